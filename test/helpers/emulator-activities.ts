import { join } from 'node:path';
import { createActivities } from '../../activities';
import { ProviderRegistry } from '../../activities/providers';
import type { EmulatorHandle, EmulatorOptions } from '../../src/emulator';
import type { BatchActivities } from '../../workflows/activity-types';

/** Emulator timings under which a small batch runs in well under a second of real time. */
export const FAST_EMULATOR: EmulatorOptions = {
  validatingSeconds: 0.05,
  requestSeconds: 0.01,
  finalizingSeconds: 0.05,
};

/** The real activities, with one provider profile `emu` on this emulator; results and staging under `dir`. */
export function emulatorActivities(emu: EmulatorHandle, dir: string): BatchActivities {
  return createActivities({
    providers: new ProviderRegistry(
      [{ name: 'emu', baseURL: emu.url, apiKeyEnv: 'EMU_KEY', kind: 'openai' }],
      {
        EMU_KEY: emu.apiKey,
      },
    ),
    outcomes: { record: async () => undefined },
    resultsDir: join(dir, 'results'),
    stagingDir: join(dir, 'staging'),
  });
}
