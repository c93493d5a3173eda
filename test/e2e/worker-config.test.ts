// `batchkeeper worker` as a child process with a broken configuration: it must exit with a one-line message
// naming the fix, never hang or print a stack.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMULATOR_KEY_ENV,
  cleanEnv,
  freePort,
  runBatchkeeper,
  stopAll,
  tempDir as newTempDir,
} from './harness';

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = newTempDir(prefix);
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const STACK_LINE = /^\s+at\s/m;

test('no provider key at all: exit 2 and one line naming the key variables', async () => {
  const dir = tempDir('nokey');
  const run = await runBatchkeeper(['worker'], {
    env: cleanEnv({
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      BATCHKEEPER_LEDGER_PATH: join(dir, 'ledger.sqlite'),
      // A configured profile whose key variable is unset counts as no key too.
      BATCHKEEPER_PROVIDERS: JSON.stringify([
        { name: 'emulator', baseURL: 'http://127.0.0.1:1/v1', apiKeyEnv: EMULATOR_KEY_ENV },
      ]),
    }),
    cwd: dir,
    timeoutMs: 30_000,
  });
  expect(run.signal).toBeNull();
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/^batchkeeper: [^\n]+\n$/);
  for (const name of ['OPENAI_API_KEY', 'DASHSCOPE_API_KEY', EMULATOR_KEY_ENV])
    expect(run.stderr).toContain(name);
  expect(run.stderr).toContain('batchkeeper dev');
  expect(run.stdout).toBe('');
});

test('malformed BATCHKEEPER_PROVIDERS: exit 2 and one line naming the variable', async () => {
  const dir = tempDir('badjson');
  const run = await runBatchkeeper(['worker'], {
    env: cleanEnv({ OPENAI_API_KEY: 'sk-unused', BATCHKEEPER_PROVIDERS: '[{"name":"x"' }),
    cwd: dir,
    timeoutMs: 30_000,
  });
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/^batchkeeper: BATCHKEEPER_PROVIDERS is not valid JSON[^\n]*\n$/);
});

test('unreachable Temporal: exit 4 within seconds, one line with the address and the fix', async () => {
  const dir = tempDir('notemporal');
  const address = `127.0.0.1:${await freePort()}`;
  const run = await runBatchkeeper(['worker'], {
    env: cleanEnv({
      TEMPORAL_ADDRESS: address,
      OPENAI_API_KEY: 'sk-e2e-never-printed',
      BATCHKEEPER_LEDGER_PATH: join(dir, 'ledger.sqlite'),
      BATCHKEEPER_LOG_LEVEL: 'error',
    }),
    cwd: dir,
    timeoutMs: 60_000,
  });
  // Killed by the timeout would mean it hangs.
  expect(run.signal).toBeNull();
  expect(run.code).toBe(4);
  expect(run.ms).toBeLessThan(30_000);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^batchkeeper: cannot reach Temporal at /);
  expect(lines[0]).toContain(address);
  expect(lines[0]).toContain('TEMPORAL_ADDRESS');
  expect(lines[0]).toContain('batchkeeper dev');
  expect(run.stderr).not.toMatch(STACK_LINE);
  expect(run.stderr + run.stdout).not.toContain('sk-e2e-never-printed');
});
