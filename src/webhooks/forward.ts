import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import {
  BATCH_WORKFLOW_TYPE,
  batchWorkflowId,
  providerEventSignal,
  startMetadata,
  type BatchLifecycleWorkflow,
  type BatchWorkflowInput,
  type ProviderEvent,
} from '../../workflows/contract';

/**
 * What became of an event: `signalled` a running workflow; `started` one (trackUnknown); `untracked`: no
 * workflow runs for the batch; `finished`: its workflow completed, so the batch's billing is recorded already.
 */
export type ForwardResult = 'signalled' | 'started' | 'untracked' | 'finished';

export interface ForwardOptions {
  /** Task queue of the batchkeeper workers, for the workflows trackUnknown starts. */
  taskQueue: string;
  /** Default 5000: a Temporal call still unanswered by then fails, so the provider gets a 5xx and retries. */
  timeoutMs?: number;
}

/** Sends verified provider events to `batch-<id>` as `providerEvent` signals. */
export class EventForwarder {
  constructor(
    private readonly client: Client,
    private readonly options: ForwardOptions,
  ) {}

  async forward(event: ProviderEvent, trackUnknown: boolean): Promise<ForwardResult> {
    const deadline = Date.now() + (this.options.timeoutMs ?? 5000);
    return this.client.withDeadline(deadline, async () => {
      if (await this.signal(event)) return 'signalled';
      return trackUnknown ? this.signalWithStart(event) : 'untracked';
    });
  }

  /** False when no workflow runs for the batch (Temporal says "not found" for a closed one too). */
  private async signal(event: ProviderEvent): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(batchWorkflowId(event.batchId)).signal(providerEventSignal, event);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /**
   * A batch created anywhere in the organisation is followed and billed from its first event on. Should a
   * workflow have started since the plain signal, signal-with-start signals that one instead: nothing is lost.
   */
  private async signalWithStart(event: ProviderEvent): Promise<ForwardResult> {
    const input: BatchWorkflowInput = { batchId: event.batchId, provider: event.provider };
    try {
      await this.client.workflow.signalWithStart<BatchLifecycleWorkflow, [ProviderEvent]>(
        BATCH_WORKFLOW_TYPE,
        {
          workflowId: batchWorkflowId(event.batchId),
          taskQueue: this.options.taskQueue,
          args: [input],
          ...startMetadata(event.batchId, event.provider),
          signal: providerEventSignal,
          signalArgs: [event],
          // As `cancel --provider`: a completed workflow's batch is finished; a failed or terminated one is not.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        },
      );
      return 'started';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'finished';
      throw err;
    }
  }
}
