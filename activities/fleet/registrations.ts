// Registrations with a fleet poller, coalesced per process: 10,000 batch workflows registering within minutes would
// otherwise send 10,000 signals to one workflow, which the server refuses ("Workflow is busy") long before the
// poller has read them. Each registerWithFleet activity adds its batch to the pending group of its poller and
// resolves when the one signal-with-start carrying the whole group was accepted; a failed send fails every activity
// of the group, which Temporal retries, so no registration is lost and repeats change nothing (the poller keys by id).
import type { FleetRegistration } from '../../workflows/contract';

/** Waits this long for more registrations before sending: a burst of starts then costs a signal per ~0.25 s. */
export const COALESCE_MS = 250;
/**
 * At most this many registrations a signal (~150 bytes each: ~75 KB, far below the 2 MB payload limit, and small
 * enough that the poller's history grows by little per signal).
 */
export const MAX_REGISTRATIONS_PER_SIGNAL = 500;

type Send = (registrations: FleetRegistration[]) => Promise<void>;

interface Group {
  registrations: FleetRegistration[];
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
  timer: NodeJS.Timeout | null;
}

export class RegistrationCoalescer {
  private readonly open = new Map<string, Group>();
  /** Signals sent, and the registrations they carried (for tests and logs). */
  sent = 0;
  carried = 0;

  constructor(private readonly waitMs = COALESCE_MS) {}

  /** Resolves once a signal carrying this registration was accepted by the server; rejects with its error. */
  add(key: string, registration: FleetRegistration, send: Send): Promise<void> {
    let group = this.open.get(key);
    if (!group) {
      group = { registrations: [], waiters: [], timer: null };
      this.open.set(key, group);
      const g = group;
      g.timer = setTimeout(() => this.flush(key, g, send), this.waitMs);
    }
    group.registrations.push(registration);
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    if (group.registrations.length >= MAX_REGISTRATIONS_PER_SIGNAL) this.flush(key, group, send);
    return done;
  }

  private flush(key: string, group: Group, send: Send): void {
    if (this.open.get(key) !== group) return;
    this.open.delete(key);
    if (group.timer) clearTimeout(group.timer);
    this.sent += 1;
    this.carried += group.registrations.length;
    send(group.registrations).then(
      () => group.waiters.forEach((w) => w.resolve()),
      (err: unknown) => group.waiters.forEach((w) => w.reject(err)),
    );
  }
}
