// The token budget's client side: update-with-start to acquire, signal-with-start to release. Activities, because
// workflow code in TS SDK 1.24 can neither send an Update nor start a workflow it does not own; retried by the
// submission's workflow until they succeed, and idempotent by holder id, so a worker that dies mid-call loses
// nothing.
import { activityInfo } from '@temporalio/activity';
import { WithStartWorkflowOperation, type WorkflowClient } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  BUDGET_WORKFLOW_TYPE,
  acquireUpdate,
  releaseSignal,
  type BudgetWorkflowInput,
  type TokenBudgetWorkflow,
} from '../../workflows/contract';
import type { BudgetActivities } from '../../workflows/shared/activity-types';

export interface BudgetDeps {
  /** Absent: a worker without a Temporal client cannot use token budgets (a clear failure, not a hang). */
  workflowClient?: WorkflowClient;
}

function clientOf(deps: BudgetDeps): WorkflowClient {
  if (deps.workflowClient) return deps.workflowClient;
  throw ApplicationFailure.nonRetryable(
    'this worker was created without a Temporal client: token budgets need one (createActivities({ workflowClient }))',
    'TokenBudgetUnavailable',
  );
}

/** The budget runs on the task queue of the worker that first needs it (every worker of the fleet polls it). */
function startOptions(input: { budgetId: string; provider: string; model: string }) {
  const args: [BudgetWorkflowInput] = [{ provider: input.provider, model: input.model }];
  return { workflowId: input.budgetId, taskQueue: activityInfo().taskQueue, args };
}

export function createBudgetActivities(deps: BudgetDeps): BudgetActivities {
  return {
    acquireTokenBudget: async (input) => {
      const client = clientOf(deps);
      const startWorkflowOperation = new WithStartWorkflowOperation<TokenBudgetWorkflow>(
        BUDGET_WORKFLOW_TYPE,
        {
          ...startOptions(input),
          workflowIdConflictPolicy: 'USE_EXISTING',
        },
      );
      return client.executeUpdateWithStart(acquireUpdate, {
        args: [input.request],
        // Within a run, the server dedupes a retried acquire; across runs, the handler does (by holder id).
        updateId: input.request.holderId,
        startWorkflowOperation,
      });
    },
    releaseTokenBudget: async (input) => {
      const client = clientOf(deps);
      // With start: a budget that closed (idle) or is between runs still gets it; an unknown holder is a no-op.
      await client.signalWithStart<TokenBudgetWorkflow, [typeof input.release]>(BUDGET_WORKFLOW_TYPE, {
        ...startOptions(input),
        signal: releaseSignal,
        signalArgs: [input.release],
      });
    },
  };
}
