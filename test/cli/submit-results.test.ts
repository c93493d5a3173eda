// `batchkeeper submit` and `batchkeeper results`, in-process, against the time-skipping server and the emulator.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { createTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';
import { FAST_EMULATOR, emulatorActivities } from '../helpers/emulator-activities';
import { runCli } from './run-cli';

const KEY = 'sk-cli-submit';
let env: TestWorkflowEnvironment;
let emu: EmulatorHandle;
let dir: string;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  emu = await startEmulator({ ...FAST_EMULATOR, apiKey: KEY });
  dir = mkdtempSync(join(tmpdir(), 'bk-cli-submit-'));
});
afterAll(async () => {
  await emu?.close();
  await env?.teardown();
});

test('submit --wait prints the totals; results shows the files with checksums', async () => {
  const file = join(dir, 'in.jsonl');
  writeFileSync(
    file,
    Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({ messages: [{ role: 'user', content: `q${i}` }] }),
    ).join('\n'),
  );
  const activities = emulatorActivities(emu, dir);
  await withWorker(env, activities, async (tq) => {
    const cli = (args: string[]) => runCli(['--task-queue', tq, ...args], { client: env.client });
    const submitted = await cli([
      'submit',
      file,
      '--provider',
      'emu',
      '--model',
      'gpt-4o-mini',
      '--name',
      'cli-test',
      '--poll-max',
      '2',
      '--wait',
      '--json',
    ]);
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    const out = JSON.parse(submitted.stdout) as {
      workflowId: string;
      outcome: { status: string; billing: { billed: number }; batches: { batchId: string }[] };
    };
    expect(out.workflowId).toBe('submit-cli-test');
    expect(out.outcome).toMatchObject({ status: 'completed', billing: { billed: 6 } });

    const results = await cli(['results', out.outcome.batches[0].batchId]);
    expect(results.code).toBe(0);
    expect(results.stdout).toMatch(/output .*output\.jsonl {2}6 lines {2}sha256 [0-9a-f]{64}/);
    expect(results.stdout).toMatch(/succeeded 6, failed 0, not run 0/);

    const again = await cli(['submit', file, '--provider', 'emu', '--name', 'cli-test']);
    expect(again.code).not.toBe(0);

    const missing = await cli(['submit', join(dir, 'nope.jsonl'), '--provider', 'emu']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
  });
});
