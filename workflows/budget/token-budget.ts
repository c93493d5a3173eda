// The token budget workflow: one per (provider profile, model), admitting submissions' parts while their tokens
// fit the provider's enqueued-token limit. Its state and rules are in BudgetState (state.ts).
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import {
  BUDGET_HANDLER_DESCRIPTIONS as about,
  acquireUpdate,
  budgetGrantedSignal,
  budgetPingSignal,
  budgetStatusQuery,
  budgetWorkflowId,
  releaseSignal,
} from '../contract';
import { historyIsLong } from '../shared/continue-as-new';
import type { BudgetRunInput } from './carried-state';
import { BudgetState, checkAcquireRequest } from './state';

/** Continue-as-new past this many events (every acquire and release costs a few), carrying holders and waiters. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 2000;
/** A budget with nothing held or waiting closes after this long; the next acquire (update-with-start) starts it. */
const IDLE_MS = 60 * 60 * 1000;
/** While parts wait, the owners of holds are pinged this often: one that is gone frees its holds. */
const PROBE_MS = 10 * 60 * 1000;

/**
 * One per (provider profile, model), id `budget-<profile>-<model>`: admits parts of every submission on every
 * worker while their estimated tokens fit the provider's enqueued-token limit (docs/token-budget.md).
 *
 * Acquire is an Update, sent with update-with-start by an activity (workflow code cannot send Updates): it
 * answers at once, granted or with the place in the queue; a waiting part is told later by the `budgetGranted`
 * signal to its owner. Release is a signal (signal-with-start, from an activity too), sent when the part's batch
 * reaches a terminal status. Nothing is lost if a worker dies: both are activities the owner's workflow retries,
 * idempotent by holder id, and grants are signals this workflow's history records.
 */
export async function tokenBudget(input: BudgetRunInput): Promise<void> {
  const st = new BudgetState(
    input.provider,
    input.model,
    budgetWorkflowId(input.provider, input.model),
    input.carried,
  );
  const now = () => Date.now();
  const publish = () => setCurrentDetails(st.details(now()));
  /** Shows the state after a handler changed it, and passes the handler's answer on. */
  const shown = <T>(answer: T): T => {
    publish();
    return answer;
  };

  setHandler(acquireUpdate, (req) => shown(st.acquire(req, now())), {
    validator: checkAcquireRequest,
    description: about.acquire,
  });
  setHandler(releaseSignal, (req) => shown(st.release(req, now())), { description: about.release });
  setHandler(budgetStatusQuery, () => st.view(now()), { description: about.status });
  publish();

  for (;;) {
    await sendGrants(st);
    if (historyIsLong(CONTINUE_AS_NEW_AFTER_EVENTS)) {
      // Handlers are synchronous; waiting for them costs nothing and keeps the rule visible.
      await condition(allHandlersFinished);
      await sendGrants(st);
      await continueAsNew<typeof tokenBudget>({ ...input, carried: st.toCarried() });
    }
    if (st.probeDue(now(), PROBE_MS) === 0) await probeOwners(st);
    const seen = st.version;
    const waits = [
      st.idle() ? IDLE_MS : null,
      st.lowered ? Math.max(1, st.lowered.until - now()) : null,
      st.probeDue(now(), PROBE_MS),
    ].filter((w): w is number => w !== null);
    const wait = waits.length > 0 ? Math.max(1, Math.min(...waits)) : undefined;
    const changed = await condition(() => st.version !== seen || st.unsent.length > 0, wait);
    if (!changed) {
      st.expireLowered(now());
      if (st.idle() && !st.lowered) {
        await condition(allHandlersFinished);
        if (st.idle()) return;
      }
      publish();
    }
  }
}

/**
 * Tells the owners of admitted parts. An owner that is gone (its submission was terminated) can never release:
 * its part's tokens are freed here instead. Any other refusal is retried by the workflow task.
 */
async function sendGrants(st: BudgetState): Promise<void> {
  while (st.unsent.length > 0) {
    const grant = st.unsent[0];
    const holder = st.holders.get(grant.holderId);
    if (holder) {
      try {
        await getExternalWorkflowHandle(holder.owner).signal(budgetGrantedSignal, grant);
      } catch (err) {
        if (isCancellation(err)) throw err;
        if (!(err instanceof ApplicationFailure && /not found/i.test(err.message))) throw err;
        st.release({ holderId: grant.holderId, reason: `owner ${holder.owner} not found` }, Date.now());
      }
    }
    st.unsent = st.unsent.filter((g) => g !== grant);
  }
}

/** Pings each owner of a hold; one whose workflow is closed (terminated, say) never releases: its holds go. */
async function probeOwners(st: BudgetState): Promise<void> {
  st.probedAt = Date.now();
  const owners = new Set([...st.holders.values()].map((h) => h.owner));
  for (const owner of owners) {
    try {
      await getExternalWorkflowHandle(owner).signal(budgetPingSignal);
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (!(err instanceof ApplicationFailure && /not found/i.test(err.message))) throw err;
      st.ownerGone(owner, Date.now());
    }
  }
}
