import type { Clock } from './clock';
import type { Faults } from './faults';
import type { ResolvedOptions } from './options';
import type { Profile } from './profiles';
import type { BatchStore, FileStore } from './store';
import type { CallLogEntry } from './types';
import type { WebhookSender } from './webhooks';

/** Everything the route handlers share; one per running emulator. */
export interface EmulatorContext {
  opts: ResolvedOptions;
  profile: Profile;
  clock: Clock;
  files: FileStore;
  batches: BatchStore;
  faults: Faults;
  calls: CallLogEntry[];
  /** Present only with webhook URLs configured. */
  webhooks?: WebhookSender;
  /** Moves the clock and settles every batch (the manual clock's "tick"). */
  advance(seconds: number): Promise<void>;
}
