/** Exit codes of the `batchkeeper` command; scripts rely on them, so keep the numbers stable. */
export const EXIT = {
  /** Done; for `status --watch`, the batch completed. */
  OK: 0,
  /** The operation failed, or the batch waited for ended failed / expired / cancelled. */
  FAILED: 1,
  /** Bad arguments or options. */
  USAGE: 2,
  /** No workflow (or ledger) for what was asked. */
  NOT_FOUND: 3,
  /** Temporal cannot be reached or used (address, namespace, credentials, config file). */
  NO_TEMPORAL: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
