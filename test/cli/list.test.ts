import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { BatchkeeperClient } from '../../src/client';
import { registerSearchAttributes } from '../../src/worker/search-attributes';
import {
  BATCH_WORKFLOW_TYPE,
  BatchProviderKey,
  BatchRequestsCompletedKey,
  BatchRequestsFailedKey,
  BatchRequestsTotalKey,
  BatchStatusKey,
} from '../../workflows/contract';
import { createLocalEnv } from '../client/local-server';
import { uniqueTaskQueue } from '../helpers/worker';
import { expectOneLineError, runCli } from './run-cli';

// `list` needs visibility, which only a dev server has; no worker is needed for workflows to be listed.
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createLocalEnv();
});
afterAll(async () => {
  await env?.teardown();
});

test('list --status, as a table and as JSON', async () => {
  const suffix = `${Date.now()}`;
  const bk = new BatchkeeperClient(env.client, { taskQueue: uniqueTaskQueue('cli-list') });
  await bk.track(`run_${suffix}`, { provider: 'p' });
  await bk.track(`gone_${suffix}`, { provider: 'p' });
  await env.client.workflow.getHandle(`batch-gone_${suffix}`).terminate('test');

  const cli = (args: string[]) => runCli(args, { client: env.client });
  let json: { batchId: string; status: string }[] = [];
  for (let i = 0; i < 50; i++) {
    const run = await cli(['list', '--status', 'terminated', '--json']);
    expect(run.code).toBe(0);
    json = JSON.parse(run.stdout) as typeof json;
    if (json.some((r) => r.batchId === `gone_${suffix}`)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(json.find((r) => r.batchId === `gone_${suffix}`)).toMatchObject({ status: 'terminated' });
  expect(json.some((r) => r.batchId === `run_${suffix}`)).toBe(false);

  const table = await cli(['list', '--status', 'running']);
  expect(table.code).toBe(0);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^BATCH +BATCH STATUS +DONE +PROVIDER +WORKFLOW +STARTED +CLOSED +WORKFLOW ID$/);
  const mine = lines.find((l) => l.startsWith(`run_${suffix} `));
  // No worker polled it yet: no search attributes, so the batch columns are '-'.
  expect(mine).toMatch(
    new RegExp(`^run_${suffix} +- +- +- +running +\\d{4}-\\d\\d-\\d\\dT[^ ]+ +- +batch-run_${suffix}$`),
  );
  expect(table.stdout).not.toContain(`gone_${suffix}`);
});

test('list --status with an unknown status: exit 2', async () => {
  const run = await runCli(['list', '--status', 'done'], { client: env.client });
  expect(run.code).toBe(2);
  expectOneLineError(
    run,
    /--status.*Allowed choices are running, completed, failed, cancelled, terminated, timed_out/,
  );
});

test('list --batch-status / --provider filter on the search attributes the workflow upserts', async () => {
  const registered = await registerSearchAttributes(env.connection.operatorService, 'default');
  expect('error' in registered).toBe(false);
  const suffix = `${Date.now()}`;
  const taskQueue = uniqueTaskQueue('cli-list-sa');
  // Started with the attributes a worker would upsert, on a queue no worker polls.
  const start = (id: string, status: string, provider: string) =>
    env.client.workflow.start(BATCH_WORKFLOW_TYPE, {
      workflowId: `batch-${id}`,
      taskQueue,
      args: [{ batchId: id, provider }],
      typedSearchAttributes: [
        { key: BatchStatusKey, value: status },
        { key: BatchProviderKey, value: provider },
        { key: BatchRequestsTotalKey, value: 100 },
        { key: BatchRequestsCompletedKey, value: 40 },
        { key: BatchRequestsFailedKey, value: 2 },
      ],
    });
  await start(`sa_run_${suffix}`, 'in_progress', `p_${suffix}`);
  await start(`sa_fin_${suffix}`, 'finalizing', `p_${suffix}`);
  await start(`sa_other_${suffix}`, 'in_progress', `q_${suffix}`);

  const cli = (args: string[]) => runCli(args, { client: env.client });
  let rows: { batchId: string; batchStatus: string; provider: string; requests: unknown }[] = [];
  for (let i = 0; i < 50; i++) {
    const run = await cli(['list', '--batch-status', 'in_progress', '--provider', `p_${suffix}`, '--json']);
    expect(run.code).toBe(0);
    rows = JSON.parse(run.stdout) as typeof rows;
    if (rows.length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(rows).toEqual([
    expect.objectContaining({
      batchId: `sa_run_${suffix}`,
      batchStatus: 'in_progress',
      provider: `p_${suffix}`,
      requests: { total: 100, completed: 40, failed: 2 },
    }),
  ]);
  const table = await cli(['list', '--provider', `p_${suffix}`]);
  expect(table.stdout).toMatch(
    new RegExp(`^sa_fin_${suffix} +finalizing +42/100 +p_${suffix} +running `, 'm'),
  );
  for (const id of [`sa_run_${suffix}`, `sa_fin_${suffix}`, `sa_other_${suffix}`]) {
    await env.client.workflow.getHandle(`batch-${id}`).terminate('test done');
  }
});
