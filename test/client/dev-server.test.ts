import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchkeeperClient,
  ClientConfigError,
  TemporalConnectError,
  WaitTimeoutError,
  connectClient,
  listQuery,
  resolveConnectConfig,
} from '../../src/client';
import { uniqueTaskQueue } from '../helpers/worker';
import { createLocalEnv } from './local-server';

// No worker polls these task queues: workflows stay running, which is all visibility needs.
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createLocalEnv();
});
afterAll(async () => {
  await env?.teardown();
});

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('list', () => {
  test('only batchkeeper workflows, filtered by execution status', async () => {
    const taskQueue = uniqueTaskQueue('list');
    const bk = new BatchkeeperClient(env.client, { taskQueue });
    const suffix = `${Date.now()}`;
    await bk.track(`l1_${suffix}`, { provider: 'p' });
    await bk.track(`l2_${suffix}`, { provider: 'p' });
    await bk.track(`l3_${suffix}`, { provider: 'p' });
    await env.client.workflow.getHandle(`batch-l3_${suffix}`).terminate('test');
    await env.client.workflow.start('someOtherWorkflow', {
      taskQueue,
      workflowId: `other-${suffix}`,
      args: [],
    });

    const mine = (rows: { batchId: string }[]) => rows.filter((r) => r.batchId.endsWith(suffix));
    const running = await eventually(
      () => bk.list({ status: 'running' }),
      (rows) => mine(rows).length === 2,
    );
    expect(
      mine(running)
        .map((r) => r.batchId)
        .sort(),
    ).toEqual([`l1_${suffix}`, `l2_${suffix}`]);
    expect(mine(running)[0]).toMatchObject({ status: 'running', taskQueue, closeTime: null });

    const terminated = await eventually(
      () => bk.list({ status: 'terminated' }),
      (rows) => mine(rows).length === 1,
    );
    expect(mine(terminated)).toEqual([
      expect.objectContaining({
        batchId: `l3_${suffix}`,
        workflowId: `batch-l3_${suffix}`,
        status: 'terminated',
      }),
    ]);
    expect(terminated[0].closeTime).not.toBeNull();

    const all = await eventually(
      () => bk.list(),
      (rows) => mine(rows).length === 3,
    );
    expect(all.some((r) => r.workflowId === `other-${suffix}`)).toBe(false);
    expect(await bk.list({ limit: 1 })).toHaveLength(1);
  });

  test('query text', () => {
    expect(listQuery()).toBe("WorkflowType = 'batchLifecycle'");
    expect(listQuery({ status: 'cancelled', query: "StartTime > '2025-01-01T00:00:00Z'" })).toBe(
      "WorkflowType = 'batchLifecycle' AND ExecutionStatus = 'Canceled' AND (StartTime > '2025-01-01T00:00:00Z')",
    );
    expect(() => listQuery({ status: 'bogus' as never })).toThrow(/running\|completed/);
  });
});

describe('without a worker', () => {
  test('status falls back to describe and says why', async () => {
    const bk = new BatchkeeperClient(env.client, { taskQueue: uniqueTaskQueue('noworker') });
    await bk.track('nw_status', { provider: 'p' });
    const status = await bk.status('nw_status', { queryTimeoutMs: 1000 });
    expect(status.source).toBe('describe');
    if (status.source === 'describe') {
      expect(status.execution.status).toBe('running');
      expect(status.queryError).not.toBe('');
    }
    await env.client.workflow.getHandle('batch-nw_status').terminate('test');
  });

  test('waitForOutcome gives up after its timeout; the workflow keeps running', async () => {
    const bk = new BatchkeeperClient(env.client, { taskQueue: uniqueTaskQueue('noworker') });
    await bk.track('nw_wait', { provider: 'p' });
    const started = Date.now();
    const err = await bk.waitForOutcome('nw_wait', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await env.client.workflow.getHandle('batch-nw_wait').describe()).status.name).toBe('RUNNING');
    await env.client.workflow.getHandle('batch-nw_wait').terminate('test');
  });
});

describe('connectClient', () => {
  test('connects with an explicit address and namespace', async () => {
    const conn = await connectClient({ address: env.address, namespace: 'default', env: {} });
    try {
      expect(conn).toMatchObject({ address: env.address, namespace: 'default' });
      const bk = new BatchkeeperClient(conn.client, { taskQueue: uniqueTaskQueue('conn') });
      const tracked = await bk.track(`conn_${Date.now()}`, { provider: 'p' });
      expect(tracked.started).toBe(true);
      await conn.client.workflow.getHandle(tracked.workflowId).terminate('test');
    } finally {
      await conn.close();
    }
  });

  test('reads TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, and explicit options win', () => {
    const env = { TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'billing' };
    expect(resolveConnectConfig({ env })).toMatchObject({
      address: 'temporal.internal:7233',
      namespace: 'billing',
    });
    expect(resolveConnectConfig({ env, address: 'other:1', namespace: 'ns' })).toMatchObject({
      address: 'other:1',
      namespace: 'ns',
    });
    expect(resolveConnectConfig({ env: {} })).toMatchObject({
      address: 'localhost:7233',
      namespace: 'default',
    });
  });

  test('an API key turns TLS on; a TOML profile is read; unknown profile and missing file are errors', () => {
    const keyed = resolveConnectConfig({
      env: { TEMPORAL_API_KEY: 'sk-secret', TEMPORAL_ADDRESS: 'x.tmprl.cloud:7233' },
    });
    expect(keyed.usesApiKey).toBe(true);
    expect(keyed.connectionOptions.tls).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'bk-envconfig-'));
    const file = join(dir, 'temporal.toml');
    writeFileSync(file, '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "batches"\n');
    expect(resolveConnectConfig({ env: {}, envConfigFile: file, profile: 'prod' })).toMatchObject({
      address: 'prod.example:7233',
      namespace: 'batches',
      usesApiKey: false,
    });
    expect(() => resolveConnectConfig({ env: {}, envConfigFile: file, profile: 'nope' })).toThrow(
      ClientConfigError,
    );
    expect(() => resolveConnectConfig({ env: {}, envConfigFile: join(dir, 'missing.toml') })).toThrow(
      /config file not found/,
    );
  });

  test('an unreachable address: an error naming it and the fix, never the API key', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const err = await connectClient({
      address,
      env: { TEMPORAL_API_KEY: 'sk-very-secret', TEMPORAL_TLS: 'false' },
      connectTimeoutMs: 1000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporalConnectError);
    const message = (err as Error).message;
    expect(message).toContain(`cannot reach Temporal at ${address}`);
    expect(message).toContain('TEMPORAL_ADDRESS');
    expect(message).not.toContain('sk-very-secret');
    expect(message.split('\n')).toHaveLength(1);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
