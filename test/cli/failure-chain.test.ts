// A workflow that fails in an activity: the CLI's error line carries the activity's own message (the root cause),
// not only Temporal's "Workflow execution failed".
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { FAST_EMULATOR, emulatorActivities } from '../helpers/emulator-activities';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';
import { expectOneLineError, runCli } from './run-cli';

const env = useTimeSkippingEnv();
let emu: EmulatorHandle;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator(FAST_EMULATOR);
  dir = mkdtempSync(join(tmpdir(), 'bk-cli-chain-'));
});
afterAll(async () => {
  await emu?.close();
});

// What a provider without `GET /v1/files` makes createBatch fail with (its idempotency lookup lists files).
const ROOT =
  "create batch on provider 'emu': not found (404): Invalid URL (GET /v1/files). Check the provider";

test('submit --wait prints the chain down to the failing activity and its message, each once', async () => {
  const file = join(dir, 'in.jsonl');
  writeFileSync(file, JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }) + '\n');
  const activities = {
    ...emulatorActivities(emu, dir),
    createBatch: async () => {
      throw ApplicationFailure.nonRetryable(ROOT, 'BatchNotFound', { status: 404 });
    },
  };
  await withWorker(env, activities, async (tq) => {
    const run = await runCli(
      ['--task-queue', tq, 'submit', file, '--provider', 'emu', '--model', 'gpt-4o-mini', '--wait'],
      { client: env.client },
    );
    expect(run.code).toBe(1);
    expectOneLineError(run, /Workflow execution failed/);
    expect(run.stderr).toContain(`createBatch: ${ROOT}`);
    expect(run.stderr.split(ROOT)).toHaveLength(2);
    expect(run.stderr.split('Workflow execution failed')).toHaveLength(2);
    expect(run.stdout).toBe('');
  });
});
