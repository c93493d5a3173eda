import { createServer } from 'node:net';
import { connectClient } from '../../src/client';
import { batchWorkflowId, type BatchStatusView } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';
import { expectOneLineError, runCli } from './run-cli';

const env = useTimeSkippingEnv();

const HOUR = 3600;
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const cli = (args: string[], extra: Parameters<typeof runCli>[1] = {}) =>
  runCli(args, { client: env.client, ...extra });

describe('track', () => {
  test('starts once; the second track reports the same workflow as already tracked', async () => {
    const fake = newFake({ id: 'ct_1', total: 10, runSeconds: 10 * HOUR });
    await withWorker(env, fake.activities(), async (tq) => {
      const first = await cli(['track', 'ct_1', '--provider', 'fake', '--task-queue', tq, '--json']);
      expect(first.code).toBe(0);
      const json = JSON.parse(first.stdout) as Record<string, unknown>;
      expect(json).toMatchObject({ batchId: 'ct_1', workflowId: 'batch-ct_1', started: true, taskQueue: tq });
      expect(typeof json.runId).toBe('string');

      const second = await cli(['track', 'ct_1', '--provider', 'fake', '--task-queue', tq]);
      expect(second.code).toBe(0);
      expect(second.stdout).toBe(
        `batch ct_1 already tracked: workflow batch-ct_1 (run ${String(json.runId)}, running)\n`,
      );
      // Terminating while the first poll is in flight leaves the test server's time-skipping lock held.
      await env.sleep('1 minute');
      await env.client.workflow.getHandle('batch-ct_1').terminate('test done');
    });
  });

  test('poll options reach the workflow', async () => {
    const fake = newFake({ id: 'ct_poll', total: 10, runSeconds: 10 * HOUR });
    await withWorker(env, fake.activities(), async (tq) => {
      const run = await cli([
        '--task-queue',
        tq,
        'track',
        'ct_poll',
        '--provider',
        'fake',
        '--poll-initial',
        '12',
        '--poll-max',
        '600',
      ]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        /^tracking batch ct_poll: workflow batch-ct_poll \(run [^)]+\) on task queue /,
      );
      await env.sleep('1 minute');
      const status = await cli(['status', 'ct_poll', '--json']);
      const view = (JSON.parse(status.stdout) as { view: BatchStatusView }).view;
      expect(view.pollPolicy).toMatchObject({ initialIntervalSeconds: 12, maxIntervalSeconds: 600 });
      await env.client.workflow.getHandle('batch-ct_poll').terminate('test done');
    });
  });

  test('--cleanup-remote: a tracked batch has its provider files deleted only when asked', async () => {
    const fake = newFake({ id: 'ct_clean', total: 10, runSeconds: 600 });
    await withWorker(env, fake.activities(), async (tq) => {
      const run = await cli([
        '--task-queue',
        tq,
        'track',
        'ct_clean',
        '--provider',
        'fake',
        '--cleanup-remote',
      ]);
      expect(run.code).toBe(0);
      const outcome = await env.client.workflow.getHandle('batch-ct_clean').result();
      expect(outcome.results?.remoteCleanup?.reason).toMatch(/on request/);
    });
    expect(fake.deletedFiles.sort()).toEqual(['file-input', 'file-out']);
  });

  test.each([
    [['track', 'ct_x'], /required option '--provider <name>' not specified/],
    [['track', 'ct_x', '--provider', 'fake', '--poll-initial', 'soon'], /--poll-initial.*positive number/],
    [['track', 'ct_x', '--provider', 'fake', '--poll-max', '-5'], /--poll-max.*positive number/],
    [['track', '--provider', 'fake'], /missing required argument 'batch_id'/],
    [['track', '', '--provider', 'fake'], /batch_id.*must not be empty/],
  ])('usage error %j -> exit 2, one line', async (args, pattern) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expectOneLineError(run, pattern);
  });
});

describe('cancel', () => {
  test('unknown batch without --provider: exit 3 and how to fix it', async () => {
    const run = await cli(['cancel', 'ct_nobody', '--reason', 'x', '--task-queue', uniqueTaskQueue()]);
    expect(run.code).toBe(3);
    expectOneLineError(run, /no workflow batch-ct_nobody .*pass a provider/);
  });

  test('with --provider before tracking: tracked and cancelled; the reason and requester reach the workflow', async () => {
    const fake = newFake({ id: 'ct_sws', total: 40, runSeconds: 5 * HOUR, cancellingSeconds: 30 });
    await withWorker(env, fake.activities(), async (tq) => {
      const run = await cli(
        [
          'cancel',
          'ct_sws',
          '--provider',
          'fake',
          '--reason',
          'wrong input file',
          '--task-queue',
          tq,
          '--json',
        ],
        { env: { USER: 'alice' } },
      );
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        batchId: 'ct_sws',
        workflowId: 'batch-ct_sws',
        via: 'signal-with-start',
      });
      const outcome = await env.client.workflow.getHandle(batchWorkflowId('ct_sws')).result();
      expect(outcome.cancel).toMatchObject({
        reason: 'wrong input file',
        requestedBy: 'batchkeeper-cli:alice',
      });
      expect(outcome.status).toBe('cancelled');
    });
  });
});

describe('status', () => {
  test('mid-way: human report and --json shape', async () => {
    const fake = newFake({ id: 'ct_mid', total: 1000, runSeconds: 10 * HOUR });
    await withWorker(env, fake.activities(), async (tq) => {
      await cli(['track', 'ct_mid', '--provider', 'fake', '--task-queue', tq]);
      await env.sleep('5 hours');
      const human = await cli(['status', 'ct_mid']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^batch ct_mid {2}workflow batch-ct_mid \(running, run /);
      expect(human.stdout).toMatch(/\n {2}status {6}in_progress\n/);
      expect(human.stdout).toMatch(/\n {2}requests {4}\d+\/1000 done/);
      expect(human.stdout).not.toMatch(/billing/);

      const json = await cli(['status', 'ct_mid', '--json']);
      const parsed = JSON.parse(json.stdout) as unknown;
      expect(parsed).toMatchObject({
        source: 'query',
        batchId: 'ct_mid',
        execution: { workflowId: 'batch-ct_mid', status: 'running', closeTime: null },
        view: {
          batchId: 'ct_mid',
          provider: 'fake',
          phase: 'tracking',
          billing: null,
          snapshot: { status: 'in_progress' },
        },
      });
      await env.client.workflow.getHandle('batch-ct_mid').terminate('test done');
    });
  });

  test('a paused batch (key rejected after the first look) and provider anomalies are shown', async () => {
    const fake = newFake({ id: 'ct_paused', total: 100, runSeconds: 10 * HOUR });
    fake.rewrite = (b) => ({ ...b, status: 'warming_up' }) as unknown as typeof b;
    await withWorker(env, fake.activities(), async (tq) => {
      await cli(['track', 'ct_paused', '--provider', 'fake', '--task-queue', tq]);
      await env.sleep('2 minutes');
      fake.failNext('retrieve', 401, 50);
      await env.sleep('1 hour');
      const human = await cli(['status', 'ct_paused']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        /\n {2}PAUSED {6}provider key rejected since \S+ \(\d+ attempt\(s\), retried every 10 min; the batch still runs and bills\): .*Check the key in FAKE_PROVIDER_KEY/,
      );
      expect(human.stdout).toMatch(/\n {2}anomaly {5}unknown status "warming_up": read as 'in_progress'/);
      await env.client.workflow.getHandle('batch-ct_paused').terminate('test done');
    });
  });

  test('unknown batch: exit 3', async () => {
    const run = await cli(['status', 'ct_none']);
    expect(run.code).toBe(3);
    expectOneLineError(run, /no workflow batch-ct_none for batch ct_none/);
  });

  test('--watch without a TTY: one line per change, the billing at the end, exit 0 on completed', async () => {
    const fake = newFake({ id: 'ct_watch', total: 600, runSeconds: 3 * HOUR, failRatio: 0.1 });
    const run = await withWorker(env, fake.activities(), async (tq) => {
      await cli(['track', 'ct_watch', '--provider', 'fake', '--task-queue', tq]);
      // Each refresh skips 20 minutes of workflow time instead of waiting 2 real seconds.
      return cli(['status', 'ct_watch', '--watch'], { sleep: () => env.sleep('20 minutes') });
    });
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    const progress = lines.slice(0, -2);
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(new Set(progress).size).toBe(progress.length);
    for (const line of progress)
      expect(line).toMatch(/^ct_watch (unknown \(no worker answered\)|[a-z_]+)( \d+\/\d+ done .*)?$/);
    expect(progress.some((l) => / in_progress \d+\/600 done \(completed \d+, failed \d+\)$/.test(l))).toBe(
      true,
    );
    const done = progress.map((l) => Number(/ (\d+)\/600 done/.exec(l)?.[1] ?? 0));
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(progress[progress.length - 1]).toBe('ct_watch completed 600/600 done (completed 540, failed 60)');
    expect(lines.slice(-2)).toEqual([
      'ct_watch ended completed',
      'billing: billed 540 of 600 requests (failed 60, not run 0); tokens in 30000, out 12000, total 42000',
    ]);
  });

  test('--watch of a batch that fails: exit 1; --json gives one JSON object per change', async () => {
    const fake = newFake({
      id: 'ct_bad',
      total: 5,
      runSeconds: HOUR,
      validationErrors: [{ code: 'invalid_json', message: 'bad line', line: 3 }],
    });
    const run = await withWorker(env, fake.activities(), async (tq) => {
      await cli(['track', 'ct_bad', '--provider', 'fake', '--task-queue', tq]);
      return cli(['status', 'ct_bad', '--watch', '--json'], { sleep: () => env.sleep('1 minute') });
    });
    expect(run.code).toBe(1);
    const objects = run.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { source: string; view?: BatchStatusView });
    expect(objects.length).toBeGreaterThanOrEqual(2);
    expect(objects[0].source).toBe('query');
    expect(objects[objects.length - 1].view?.snapshot?.status).toBe('failed');
    expect(objects[objects.length - 1].view?.snapshot?.errors[0]).toMatchObject({
      code: 'invalid_json',
      line: 3,
    });
  });

  test('--watch on a terminal: a progress bar of completed/failed/total', async () => {
    const fake = newFake({ id: 'ct_bar', total: 200, runSeconds: 2 * HOUR });
    let drawn = '';
    const tty = {
      isTTY: true,
      columns: 160,
      write: (s: string) => ((drawn += s), true),
    } as unknown as NodeJS.WriteStream;
    const run = await withWorker(env, fake.activities(), async (tq) => {
      await cli(['track', 'ct_bar', '--provider', 'fake', '--task-queue', tq]);
      return cli(['status', 'ct_bar', '--watch'], {
        sleep: () => env.sleep('30 minutes'),
        io: { isTTY: true, ttyStream: tty },
      });
    });
    expect(run.code).toBe(0);
    expect(drawn).toMatch(/ct_bar \[[^\]]+\] 200\/200 done \| completed 200 failed 0 \| completed/);
    expect(run.stdout).toContain('billing: billed 200 of 200 requests');
  });
});

describe('connection and usage', () => {
  test('cannot reach Temporal: exit 4, one line naming the address and the fix', async () => {
    const port = await freePort();
    const run = await runCli(['--address', `127.0.0.1:${port}`, 'status', 'b1'], {
      connect: (o) => connectClient({ ...o, connectTimeoutMs: 500 }),
    });
    expect(run.code).toBe(4);
    expectOneLineError(
      run,
      new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port} .*batchkeeper dev.*TEMPORAL_ADDRESS`),
    );
  });

  test('a missing Temporal config file: exit 4', async () => {
    const run = await runCli(['--temporal-config', '/nonexistent/temporal.toml', 'list']);
    expect(run.code).toBe(4);
    expectOneLineError(run, /config file not found: \/nonexistent\/temporal.toml/);
  });

  test('unknown command or option: exit 2; no command: help on stderr, exit 2; --help: exit 0', async () => {
    const unknown = await cli(['stauts', 'b1']);
    expect(unknown.code).toBe(2);
    expectOneLineError(unknown, /unknown command 'stauts'.*status/);
    const badOption = await cli(['status', 'b1', '--wtch']);
    expect(badOption.code).toBe(2);
    expectOneLineError(badOption, /unknown option '--wtch'/);
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: batchkeeper/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['track', 'cancel', 'status', 'list', 'billing', 'emulator'])
      expect(help.stdout).toContain(c);
  });

  test('more commands can be registered by the caller', async () => {
    let ran = '';
    const run = await cli(['hello', 'x'], {
      extend: (program) => {
        program
          .command('hello')
          .argument('<who>')
          .action((who: string) => {
            ran = who;
          });
      },
    });
    expect(run.code).toBe(0);
    expect(ran).toBe('x');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
