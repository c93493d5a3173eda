import { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { registerSearchAttributes } from '../../src/worker/search-attributes';
import { quietRuntime } from './worker';

/**
 * The provisioned time-skipping server (scripts/provision-temporal.sh), else the SDK's own download,
 * so the same tests run on an air-gapped machine and on one with internet access.
 */
export function testServerPath(): string | undefined {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) return fromEnv;
  const cached = join(
    process.env.BATCHKEEPER_CACHE ?? join(homedir(), '.cache', 'batchkeeper'),
    'test-server-1.38.0',
    'temporal-test-server',
  );
  return existsSync(cached) ? cached : undefined;
}

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const path = testServerPath();
  const env = await TestWorkflowEnvironment.createTimeSkipping(
    path ? { server: { executable: { type: 'existing-path', path } } } : undefined,
  );
  const result = await registerSearchAttributes(env.connection.operatorService, env.namespace ?? 'default');
  if ('error' in result) throw new Error(`registering search attributes on the test server: ${result.error}`);
  return env;
}

/**
 * One time-skipping environment for a test file: created before its tests, torn down after them. Returns a
 * stand-in that forwards to it, so a file declares `const env = useTimeSkippingEnv();` and uses `env` as is.
 * `perTest`: a fresh server for every test, for tests that may leave its time-skipping locks unbalanced (see
 * child-lock-watcher.ts).
 */
export function useTimeSkippingEnv(options: { perTest?: boolean } = {}): TestWorkflowEnvironment {
  let real: TestWorkflowEnvironment | undefined;
  const before = options.perTest ? beforeEach : beforeAll;
  const after = options.perTest ? afterEach : afterAll;
  before(async () => {
    real = await createTimeSkippingEnv();
  });
  after(async () => {
    await real?.teardown();
  });
  return new Proxy({} as TestWorkflowEnvironment, {
    get(_, prop) {
      if (!real)
        throw new Error('the time-skipping environment is only there inside tests (beforeAll ran first)');
      const value: unknown = Reflect.get(real, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
  });
}
