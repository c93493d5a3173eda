import type { WorkflowClient } from '@temporalio/client';
import { join } from 'node:path';
import { createActivities } from '../../activities';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import type { EmulatorHandle, EmulatorOptions } from '../../src/emulator';
import type { WorkerActivities } from '../../workflows/shared/activity-types';

/** Emulator timings under which a small batch runs in well under a second of real time. */
export const FAST_EMULATOR: EmulatorOptions = {
  validatingSeconds: 0.05,
  requestSeconds: 0.01,
  finalizingSeconds: 0.05,
};

/**
 * The real activities, with one provider profile `emu` on this emulator; results and staging under `dir`.
 * `budget`: the profile's token budgets, and the client their acquire and release go through.
 */
export function emulatorActivities(
  emu: EmulatorHandle,
  dir: string,
  budget?: { tokenBudgets: ProviderProfile['tokenBudgets']; workflowClient: WorkflowClient },
): WorkerActivities {
  return createActivities({
    workflowClient: budget?.workflowClient,
    providers: new ProviderRegistry(
      [
        {
          name: 'emu',
          baseURL: emu.url,
          apiKeyEnv: 'EMU_KEY',
          kind: 'openai',
          // Per-batch polling: these tests are about other things, and a fleet poller outlives the test that
          // started it (a sweep in flight when its worker stops holds the time-skipping server's clock still for
          // the next test). Fleet polling has its own tests (test/workflows/fleet.test.ts, test/e2e/fleet.test.ts).
          fleetPolling: false,
          ...(budget ? { tokenBudgets: budget.tokenBudgets } : {}),
        },
      ],
      {
        EMU_KEY: emu.apiKey,
      },
    ),
    outcomes: { record: async () => undefined },
    resultsDir: join(dir, 'results'),
    stagingDir: join(dir, 'staging'),
  });
}
