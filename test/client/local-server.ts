import { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { quietRuntime } from '../helpers/worker';

/** The provisioned Temporal CLI (scripts/provision-temporal.sh cli), else the SDK's own download. */
export function temporalCliPath(): string | undefined {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  const cached = join(
    process.env.BATCHKEEPER_CACHE ?? join(homedir(), '.cache', 'batchkeeper'),
    'temporal-cli-v1.5.1',
    'temporal',
  );
  return existsSync(cached) ? cached : undefined;
}

/** A dev server: real visibility (list), real time. For what the time-skipping server lacks. */
export async function createLocalEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const path = temporalCliPath();
  return TestWorkflowEnvironment.createLocal(
    path ? { server: { executable: { type: 'existing-path', path } } } : undefined,
  );
}
