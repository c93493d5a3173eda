/**
 * Test-only crash points for the fault matrix (`npm run faults`, docs/faults.md): with
 * `BATCHKEEPER_TEST_CRASH_AT=<point>` in the worker's environment, the worker kills itself with SIGKILL the
 * first time it reaches that point, right after a side effect and before Temporal hears of it: the windows
 * where a retry must find what the dead attempt did. Unset (always, outside fault runs), every call is a
 * no-op. An unknown value stops the worker at start (`armedCrashPoint`), so a typo never silently tests nothing.
 */
export const CRASH_POINTS = [
  /** The chunk is uploaded; the batch is not created yet. */
  'after-upload',
  /** The batch is created at the provider; createBatch has not returned (no child workflow yet). */
  'after-create',
  /** The provider accepted the cancel; the workflow has not recorded it. */
  'after-cancel',
  /** Part of a result file is on local disk, under its temp name. */
  'during-download',
  /** The provider files are deleted; the ledger write has not happened. */
  'after-cleanup',
  /** The ledger row is written; recordOutcome has not returned. */
  'during-record-outcome',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export const CRASH_ENV = 'BATCHKEEPER_TEST_CRASH_AT';

let armed: CrashPoint | null | undefined;

/** The armed point (null when none); throws on a value that names no point. */
export function armedCrashPoint(env: NodeJS.ProcessEnv = process.env): CrashPoint | null {
  const v = env[CRASH_ENV];
  if (v === undefined || v === '') return null;
  if (!(CRASH_POINTS as readonly string[]).includes(v))
    throw new Error(`${CRASH_ENV}=${v} names no crash point (${CRASH_POINTS.join(', ')})`);
  return v as CrashPoint;
}

/** Dies at once (SIGKILL, no clean-up, like a power cut) when this point is armed. */
export function crashPoint(point: CrashPoint): void {
  armed ??= armedCrashPoint();
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}
