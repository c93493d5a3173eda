import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { BatchkeeperClient } from '../../src/client';
import { uniqueTaskQueue } from '../helpers/worker';
import { createLocalEnv } from '../client/local-server';
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
  expect(lines[0]).toMatch(/^BATCH +STATUS +STARTED +CLOSED +WORKFLOW ID$/);
  const mine = lines.find((l) => l.startsWith(`run_${suffix} `));
  expect(mine).toMatch(
    new RegExp(`^run_${suffix} +running +\\d{4}-\\d\\d-\\d\\dT[^ ]+ +- +batch-run_${suffix}$`),
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
