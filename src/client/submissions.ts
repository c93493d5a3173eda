import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_TASK_QUEUE,
  SUBMIT_WORKFLOW_TYPE,
  cancelSignal,
  submitStatusQuery,
  submitWorkflowId,
  type CancelRequest,
  type SubmitBatchWorkflow,
  type SubmitOutcome,
  type SubmitStatusView,
  type SubmitWorkflowInput,
} from '../../workflows/contract';
import { BatchNotFoundError } from './errors';

type SubmitWorkflow = SubmitBatchWorkflow;

export interface SubmitResult {
  name: string;
  workflowId: string;
  runId: string;
}

/** Submissions (a JSONL file -> batches): start, follow, cancel. Each batch is then a `batch-<id>` workflow. */
export class SubmissionsClient {
  readonly taskQueue: string;

  constructor(
    private readonly client: Client,
    options: { taskQueue?: string } = {},
  ) {
    this.taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;
  }

  /**
   * Starts a submission. `name` makes it idempotent (the same name is the same submission: a second call while
   * it runs is refused by Temporal, so a file is never submitted twice by a retried call); default: a new UUID.
   */
  async submit(input: SubmitWorkflowInput, options: { name?: string } = {}): Promise<SubmitResult> {
    const name = options.name ?? randomUUID();
    const workflowId = submitWorkflowId(name);
    const handle = await this.client.workflow.start<SubmitWorkflow>(SUBMIT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: this.taskQueue,
      args: [input],
      staticSummary: `Submission ${name} on ${input.provider}`,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
    return { name, workflowId, runId: handle.firstExecutionRunId };
  }

  async status(name: string): Promise<SubmitStatusView> {
    try {
      return await this.client.workflow.getHandle(submitWorkflowId(name)).query(submitStatusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(name, submitWorkflowId(name));
      throw err;
    }
  }

  async wait(name: string): Promise<SubmitOutcome> {
    return this.client.workflow.getHandle<SubmitWorkflow>(submitWorkflowId(name)).result();
  }

  /** Cancels every batch of the submission (the workflow forwards the signal to each batch's workflow). */
  async cancel(name: string, request: CancelRequest = {}): Promise<void> {
    await this.client.workflow.getHandle(submitWorkflowId(name)).signal(cancelSignal, request);
  }
}
