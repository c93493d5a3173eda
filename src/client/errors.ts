import type { BatchStatusView, BillingTotals } from '../../workflows/messages';

/** No workflow tracks this batch (never tracked, or its history was already deleted by retention). */
export class BatchNotFoundError extends Error {
  override readonly name = 'BatchNotFoundError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    hint = 'track it first with `batchkeeper track` (or pass a provider to start tracking it)',
  ) {
    super(`no workflow ${workflowId} for batch ${batchId}: ${hint}`);
  }
}

/** The workflow exists but is closed, so a signal cannot reach it. */
export class BatchWorkflowClosedError extends Error {
  override readonly name = 'BatchWorkflowClosedError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    /** Temporal execution status name, e.g. `COMPLETED`. */
    readonly executionStatus: string,
    action: string,
  ) {
    super(`workflow ${workflowId} already closed (${executionStatus.toLowerCase()}): ${action}`);
  }
}

export type EndedWithoutOutcome = 'cancelled' | 'terminated' | 'timed_out' | 'failed';

/**
 * The workflow closed without returning a `BatchOutcome`. A workflow cancelled through Temporal still
 * cancels the provider batch and records billing before it closes, so whatever it last reported is kept.
 */
export class BatchWorkflowEndedError extends Error {
  override readonly name = 'BatchWorkflowEndedError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    readonly ending: EndedWithoutOutcome,
    /** The `status` query answered after the close, when a worker could replay it; else null. */
    readonly lastStatus: BatchStatusView | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`workflow ${workflowId} ended ${ending.replace('_', ' ')} without an outcome: ${detail}`, options);
  }

  /** Billing totals the workflow computed before it closed, when they could be read back. */
  get billing(): BillingTotals | null {
    return this.lastStatus?.billing ?? null;
  }
}

/** `waitForOutcome` gave up before the workflow closed; the workflow itself keeps running. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    readonly timeoutMs: number,
  ) {
    super(`workflow ${workflowId} still running after ${timeoutMs} ms (it keeps running; wait again later)`);
  }
}

/** Temporal could not be reached, or the namespace is not usable with these credentials. */
export class TemporalConnectError extends Error {
  override readonly name = 'TemporalConnectError';
  constructor(
    message: string,
    readonly address: string,
    readonly namespace: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Connection settings that cannot work as given (missing config file, unknown profile). */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
}
