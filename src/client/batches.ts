import {
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError, type TypedSearchAttributes } from '@temporalio/common';
import {
  BATCH_WORKFLOW_TYPE,
  BatchProviderKey,
  BatchRequestsCompletedKey,
  BatchRequestsFailedKey,
  BatchRequestsTotalKey,
  BatchStatusKey,
  DEFAULT_TASK_QUEUE,
  batchWorkflowId,
  cancelSignal,
  startMetadata,
  statusQuery,
  type BatchLifecycleWorkflow,
  type BatchOutcome,
  type BatchStatus,
  type BatchStatusView,
  type BatchWorkflowInput,
  type CancelRequest,
  type PollPolicy,
} from '../../workflows/contract';
import {
  BatchNotFoundError,
  BatchWorkflowClosedError,
  BatchWorkflowEndedError,
  WaitTimeoutError,
  type EndedWithoutOutcome,
} from './errors';

type BatchWorkflow = BatchLifecycleWorkflow;

/** Temporal's execution status, lower-cased: `running`, `completed`, `cancelled`, `timed_out`, ... */
export type ExecutionStatus =
  | 'running'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'terminated'
  | 'timed_out'
  | 'continued_as_new'
  | 'unknown';

/** Filters of `list`; `completed` is the workflow's status: a batch the provider failed still completes it. */
export const LIST_STATUSES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];

// Visibility spells these in CamelCase (and `Canceled` with one l).
const VISIBILITY_STATUS: Record<ListStatus, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

export interface ExecutionInfo {
  workflowId: string;
  runId: string;
  status: ExecutionStatus;
  taskQueue: string;
  startTime: string;
  closeTime: string | null;
  historyLength: number;
}

export interface TrackOptions {
  /** Provider profile configured on the worker (never a key). */
  provider: string;
  pollPolicy?: Partial<PollPolicy>;
  /**
   * Delete the batch's input, output and error files at the provider once its results are stored and verified.
   * Default false: a tracked batch was created elsewhere, and its files belong to whoever created it.
   */
  cleanupRemote?: boolean;
}

export interface TrackResult {
  workflowId: string;
  runId: string;
  /** False when a workflow for this batch was already running (or had completed): it was reused as is. */
  started: boolean;
  status: ExecutionStatus;
}

export interface CancelOptions extends CancelRequest {
  /** Given: signal-with-start, so a batch not tracked yet is tracked and cancelled in one call. */
  provider?: string;
  pollPolicy?: Partial<PollPolicy>;
  /** With `provider`, for the workflow it starts: see `TrackOptions.cleanupRemote` (default false). */
  cleanupRemote?: boolean;
}

export interface CancelResult {
  workflowId: string;
  runId: string;
  via: 'signal' | 'signal-with-start';
}

/** Where a status came from: the live query, the result of a closed workflow, or only its description. */
export type BatchStatusResult =
  | { source: 'query'; batchId: string; execution: ExecutionInfo; view: BatchStatusView }
  | { source: 'result'; batchId: string; execution: ExecutionInfo; outcome: BatchOutcome; queryError: string }
  | { source: 'describe'; batchId: string; execution: ExecutionInfo; queryError: string };

export interface StatusOptions {
  /** A query needs a worker to answer; without one, give up after this long. Default 5000. */
  queryTimeoutMs?: number;
}

export interface WaitOptions {
  /** Give up waiting (the workflow keeps running) after this long; default: wait until it closes. */
  timeoutMs?: number;
}

export interface ListOptions {
  status?: ListStatus;
  /** The provider batch status (search attribute BatchStatus), e.g. `in_progress`. */
  batchStatus?: BatchStatus;
  /** Provider profile (search attribute BatchProvider). */
  provider?: string;
  /** An extra visibility clause ANDed to the filter, e.g. `StartTime > '2025-01-01T00:00:00Z'`. */
  query?: string;
  /** At most this many executions, newest first. Default 100. */
  limit?: number;
}

export interface BatchWorkflowSummary extends ExecutionInfo {
  /** The batch id read back from the workflow id (`batch-<id>`). */
  batchId: string;
  /** From the workflow's search attributes (null until its first poll, or where they are not registered). */
  batchStatus: string | null;
  provider: string | null;
  requests: { total: number; completed: number; failed: number } | null;
}

export interface BatchkeeperClientOptions {
  /** Task queue the batchkeeper worker polls; default `batchkeeper`. */
  taskQueue?: string;
}

/**
 * Typed access to batchkeeper workflows for other TypeScript services. Wraps a Temporal `Client` the caller
 * owns (see `connectClient`); every method addresses a batch by its provider batch id alone.
 */
export class BatchkeeperClient {
  readonly taskQueue: string;

  constructor(
    readonly client: Client,
    options: BatchkeeperClientOptions = {},
  ) {
    this.taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;
  }

  /**
   * Starts tracking a batch; idempotent. A running workflow for the batch is reused as is (its provider and
   * poll policy win), a completed one too (its billing is recorded already); one that failed, was cancelled
   * or terminated is replaced by a new run.
   */
  async track(batchId: string, options: TrackOptions): Promise<TrackResult> {
    const workflowId = batchWorkflowId(batchId);
    const start = (conflict: 'FAIL' | 'USE_EXISTING') =>
      this.client.workflow.start<BatchWorkflow>(BATCH_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [workflowInput(batchId, options.provider, options.pollPolicy, options.cleanupRemote)],
        ...startMetadata(batchId, options.provider),
        workflowIdConflictPolicy: conflict,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      });
    try {
      // FAIL first only to learn whether this call started the workflow; USE_EXISTING below is the real guard.
      const handle = await start('FAIL');
      return { workflowId, runId: handle.firstExecutionRunId, started: true, status: 'running' };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    try {
      const handle = await start('USE_EXISTING');
      return { workflowId, runId: handle.firstExecutionRunId, started: false, status: 'running' };
    } catch (err) {
      // Closed as completed: the reuse policy keeps that run as the batch's one record.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const execution = executionInfo(await this.handle(workflowId).describe());
      return { workflowId, runId: execution.runId, started: false, status: execution.status };
    }
  }

  /**
   * Sends the `cancel` signal. With `provider`, signal-with-start: works whether or not the batch is tracked.
   * Without it the workflow must be running: `BatchNotFoundError` or `BatchWorkflowClosedError` otherwise.
   */
  async cancel(batchId: string, options: CancelOptions = {}): Promise<CancelResult> {
    const workflowId = batchWorkflowId(batchId);
    const request = cancelRequest(options);
    if (options.provider !== undefined) {
      try {
        const handle = await this.client.workflow.signalWithStart<BatchWorkflow, [CancelRequest?]>(
          BATCH_WORKFLOW_TYPE,
          {
            workflowId,
            taskQueue: this.taskQueue,
            args: [workflowInput(batchId, options.provider, options.pollPolicy, options.cleanupRemote)],
            ...startMetadata(batchId, options.provider),
            signal: cancelSignal,
            signalArgs: [request],
            // A completed workflow's batch is finished: starting it again only to cancel would be noise.
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          },
        );
        return { workflowId, runId: handle.signaledRunId, via: 'signal-with-start' };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        throw new BatchWorkflowClosedError(batchId, workflowId, 'COMPLETED', 'the batch already finished');
      }
    }
    const handle = this.handle(workflowId);
    try {
      await handle.signal(cancelSignal, request);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // Signalling a closed workflow also reports "not found": tell the two apart for the caller.
      const description = await this.describeOrNull(workflowId);
      if (!description) {
        throw new BatchNotFoundError(
          batchId,
          workflowId,
          'it is not tracked; pass a provider to track and cancel it',
        );
      }
      throw new BatchWorkflowClosedError(
        batchId,
        workflowId,
        description.status.name,
        'nothing left to cancel',
      );
    }
    const description = await handle.describe();
    return { workflowId, runId: description.runId, via: 'signal' };
  }

  /** The `status` query; for a closed workflow the query still answers when a worker can replay it. */
  async status(batchId: string, options: StatusOptions = {}): Promise<BatchStatusResult> {
    const workflowId = batchWorkflowId(batchId);
    const description = await this.describeOrNull(workflowId);
    if (!description) throw new BatchNotFoundError(batchId, workflowId);
    const execution = executionInfo(description);
    const handle = this.handle(workflowId);
    try {
      const view = await this.query(handle, options.queryTimeoutMs);
      return { source: 'query', batchId, execution, view };
    } catch (err) {
      const queryError = errorText(err);
      if (execution.status === 'completed') {
        const outcome = await handle.result();
        return { source: 'result', batchId, execution, outcome, queryError };
      }
      return { source: 'describe', batchId, execution, queryError };
    }
  }

  /**
   * The workflow's result. A workflow that closed without one (cancelled through Temporal, terminated,
   * failed, timed out) throws `BatchWorkflowEndedError`, carrying the last status the workflow reports.
   */
  async waitForOutcome(batchId: string, options: WaitOptions = {}): Promise<BatchOutcome> {
    const workflowId = batchWorkflowId(batchId);
    const handle = this.handle(workflowId);
    const controller = new AbortController();
    const timer =
      options.timeoutMs !== undefined ? setTimeout(() => controller.abort(), options.timeoutMs) : undefined;
    try {
      return await this.client.withAbortSignal(controller.signal, () => handle.result());
    } catch (err) {
      if (controller.signal.aborted) throw new WaitTimeoutError(batchId, workflowId, options.timeoutMs ?? 0);
      if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId, workflowId);
      if (!(err instanceof WorkflowFailedError)) throw err;
      const lastStatus = await this.query(handle).catch(() => null);
      const cause = err.cause;
      throw new BatchWorkflowEndedError(
        batchId,
        workflowId,
        endingOf(cause),
        lastStatus,
        errorText(cause ?? err),
        {
          cause: err,
        },
      );
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Batchkeeper workflows from visibility, newest first; needs a server with visibility (not the test server). */
  async list(options: ListOptions = {}): Promise<BatchWorkflowSummary[]> {
    const limit = options.limit ?? 100;
    const out: BatchWorkflowSummary[] = [];
    if (limit <= 0) return out;
    for await (const info of this.client.workflow.list({ query: listQuery(options) })) {
      out.push({
        batchId: batchIdOf(info.workflowId),
        workflowId: info.workflowId,
        runId: info.runId,
        status: statusName(info.status.name),
        taskQueue: info.taskQueue,
        startTime: info.startTime.toISOString(),
        closeTime: info.closeTime?.toISOString() ?? null,
        historyLength: info.historyLength,
        ...searchAttributeSummary(info.typedSearchAttributes),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  private handle(workflowId: string): WorkflowHandle<BatchWorkflow> {
    return this.client.workflow.getHandle<BatchWorkflow>(workflowId);
  }

  private async describeOrNull(workflowId: string): Promise<WorkflowExecutionDescription | null> {
    try {
      return await this.handle(workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  private query(handle: WorkflowHandle<BatchWorkflow>, timeoutMs = 5000): Promise<BatchStatusView> {
    return this.client.withDeadline(Date.now() + timeoutMs, () => handle.query(statusQuery));
  }
}

/** The visibility query `list` sends; exported so callers can reuse it with the `temporal` CLI. */
export function listQuery(
  options: Pick<ListOptions, 'status' | 'query' | 'batchStatus' | 'provider'> = {},
): string {
  const parts = [`WorkflowType = '${BATCH_WORKFLOW_TYPE}'`];
  if (options.batchStatus) parts.push(`BatchStatus = ${quote(options.batchStatus)}`);
  if (options.provider) parts.push(`BatchProvider = ${quote(options.provider)}`);
  if (options.status !== undefined) {
    const status = VISIBILITY_STATUS[options.status];
    if (!status)
      throw new RangeError(`unknown status ${String(options.status)}; expected ${LIST_STATUSES.join('|')}`);
    parts.push(`ExecutionStatus = '${status}'`);
  }
  if (options.query?.trim()) parts.push(`(${options.query.trim()})`);
  return parts.join(' AND ');
}

/** A visibility string literal; quotes inside are escaped so a value cannot change the query. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function searchAttributeSummary(
  sa: TypedSearchAttributes,
): Pick<BatchWorkflowSummary, 'batchStatus' | 'provider' | 'requests'> {
  const total = sa.get(BatchRequestsTotalKey);
  return {
    batchStatus: sa.get(BatchStatusKey) ?? null,
    provider: sa.get(BatchProviderKey) ?? null,
    requests:
      total === undefined
        ? null
        : {
            total,
            completed: sa.get(BatchRequestsCompletedKey) ?? 0,
            failed: sa.get(BatchRequestsFailedKey) ?? 0,
          },
  };
}

export function batchIdOf(workflowId: string): string {
  return workflowId.startsWith('batch-') ? workflowId.slice('batch-'.length) : workflowId;
}

function workflowInput(
  batchId: string,
  provider: string,
  pollPolicy?: Partial<PollPolicy>,
  cleanupRemote?: boolean,
): BatchWorkflowInput {
  const input: BatchWorkflowInput = { batchId, provider };
  if (pollPolicy) input.pollPolicy = pollPolicy;
  if (cleanupRemote !== undefined) input.results = { cleanupRemote };
  return input;
}

function cancelRequest(options: CancelRequest): CancelRequest {
  const request: CancelRequest = {};
  if (options.reason !== undefined) request.reason = options.reason;
  if (options.requestedBy !== undefined) request.requestedBy = options.requestedBy;
  return request;
}

function executionInfo(d: WorkflowExecutionDescription): ExecutionInfo {
  return {
    workflowId: d.workflowId,
    runId: d.runId,
    status: statusName(d.status.name),
    taskQueue: d.taskQueue,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString() ?? null,
    historyLength: d.historyLength,
  };
}

function statusName(name: string): ExecutionStatus {
  const s = name.toLowerCase();
  const known: readonly string[] = [...LIST_STATUSES, 'continued_as_new'];
  return known.includes(s) ? (s as ExecutionStatus) : 'unknown';
}

function endingOf(cause: unknown): EndedWithoutOutcome {
  if (cause instanceof CancelledFailure) return 'cancelled';
  if (cause instanceof TerminatedFailure) return 'terminated';
  if (cause instanceof TimeoutFailure) return 'timed_out';
  return 'failed';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
