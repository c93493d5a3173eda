import type { HistoryAndWorkflowId } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { listHistoryFixtures, loadHistoryFixture, recordedWorkflowId } from '../helpers/history-fixtures';
import { recordScenarios } from '../helpers/scenarios';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

/** Every fixture, frozen. Add the new version's when it is released (npm run record-histories); never edit. */
const FROZEN_FIXTURES = [
  'completed.json',
  'signal-cancelled.json',
  'v0.1.0/batch-with-parent-submission.json',
  'v0.1.0/cancel-too-late.json',
  'v0.1.0/continue-as-new-run1.json.gz',
  'v0.1.0/continue-as-new-run2.json.gz',
  'v0.1.0/submission-several-children-resubmitted.json',
  'v0.2.0/access-paused-then-resumed.json',
  'v0.2.0/batch-last-report-refused.json',
  'v0.2.0/batch-with-parent-submission.json',
  'v0.2.0/cancel-too-late.json',
  'v0.2.0/completed.json',
  'v0.2.0/continue-as-new-run1.json.gz',
  'v0.2.0/continue-as-new-run2.json.gz',
  'v0.2.0/signal-cancelled.json',
  'v0.2.0/submission-cancel-finds-batch-gone.json',
  'v0.2.0/submission-continued-as-new-first-run.json',
  'v0.2.0/submission-continued-as-new-last-run.json',
  'v0.2.0/submission-several-children-resubmitted.json',
  'v0.2.0/workflow-cancelled.json',
  'v0.3.0/access-paused-then-resumed.json',
  'v0.3.0/batch-last-report-refused.json',
  'v0.3.0/batch-with-parent-submission.json',
  'v0.3.0/budget-continued-run1.json.gz',
  'v0.3.0/budget-continued-run2.json',
  'v0.3.0/budget-wait-and-grant-budget.json',
  'v0.3.0/budget-wait-and-grant-submission.json',
  'v0.3.0/cancel-too-late.json',
  'v0.3.0/completed.json.gz',
  'v0.3.0/continue-as-new-run1.json.gz',
  'v0.3.0/continue-as-new-run2.json.gz',
  'v0.3.0/fleet-batch.json',
  'v0.3.0/fleet-poller-continued-run1.json.gz',
  'v0.3.0/fleet-poller-continued-run2.json.gz',
  'v0.3.0/fleet-poller.json.gz',
  'v0.3.0/pushed-batch.json',
  'v0.3.0/signal-cancelled.json',
  'v0.3.0/submission-cancel-finds-batch-gone.json',
  'v0.3.0/submission-continued-as-new-first-run.json',
  'v0.3.0/submission-continued-as-new-last-run.json',
  'v0.3.0/submission-several-children-resubmitted.json',
  'v0.3.0/token-limit-retry-budget.json',
  'v0.3.0/token-limit-retry-submission.json',
  'v0.3.0/workflow-cancelled.json',
  'workflow-cancelled.json',
];

/**
 * Replays the histories on one replay worker and returns the ones that failed, by name, with the error: every
 * failure is reported, where a thrown first one would hide the rest.
 */
async function replayFailures(
  histories: (HistoryAndWorkflowId & { name: string })[],
  bundle?: { code: string },
): Promise<string[]> {
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: bundle ?? (await workflowBundle()) },
    histories,
  )) {
    // Results come in the order of the histories, one each.
    const { name } = histories[replayed];
    replayed += 1;
    if (result.error) failures.push(`${name}: ${result.error.message}`);
  }
  // A replay worker that stopped early must not pass for histories it never replayed.
  if (replayed !== histories.length)
    failures.push(`only ${replayed} of ${histories.length} histories replayed`);
  return failures;
}

function workflowType(history: History): string | null | undefined {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
}

/** Every workflow the worker registers: each must have histories, or a change to it would go unchecked. */
const WORKFLOW_TYPES = Object.keys(workflows).sort();

const env = useTimeSkippingEnv();

describe('determinism', () => {
  test('every frozen fixture history (each released version, each path) replays with the current code', async () => {
    // Fixtures are only ever added: a missing one means a recorded past was lost, not just renamed.
    expect(listHistoryFixtures()).toEqual(FROZEN_FIXTURES);
    const histories = FROZEN_FIXTURES.map((file) => ({
      name: file,
      // Versions before 0.3.0 did not write their ids down: their histories replay under their file names.
      workflowId: recordedWorkflowId(file) ?? file,
      history: loadHistoryFixture(file),
    }));
    expect([...new Set(histories.map((h) => workflowType(h.history)))].sort()).toEqual(WORKFLOW_TYPES);
    expect(await replayFailures(histories)).toEqual([]);
    // Replay costs about a millisecond an event of CPU (the carried runs hold thousands): a minute when busy.
  }, 300_000);

  test('histories recorded now, on every path, replay too (what the next release freezes)', async () => {
    const scenarios = await recordScenarios(env, '_fresh', { all: true });
    expect(scenarios.map((s) => s.name)).toEqual([
      'completed',
      'signal-cancelled',
      'workflow-cancelled',
      'continue-as-new-run1',
      'continue-as-new-run2',
      'cancel-too-late',
      'access-paused-then-resumed',
      'submission-several-children-resubmitted',
      'batch-with-parent-submission',
      'submission-continued-as-new-first-run',
      'submission-continued-as-new-last-run',
      'batch-last-report-refused',
      'submission-cancel-finds-batch-gone',
      'pushed-batch',
      'budget-wait-and-grant-submission',
      'budget-wait-and-grant-budget',
      'token-limit-retry-submission',
      'token-limit-retry-budget',
      'budget-continued-run1',
      'budget-continued-run2',
      'fleet-batch',
      'fleet-poller',
      'fleet-poller-continued-run1',
      'fleet-poller-continued-run2',
    ]);
    for (const s of scenarios) {
      const types = new Set((s.history.events ?? []).map((e) => e.eventType));
      expect(types.size).toBeGreaterThan(5);
    }
    expect([...new Set(scenarios.map((s) => workflowType(s.history)))].sort()).toEqual(WORKFLOW_TYPES);
    expect(await replayFailures(scenarios)).toEqual([]);
    // Recording every scenario takes minutes of real time on a busy machine.
  }, 600_000);

  test('a workflow change that reorders commands is caught by replay', async () => {
    // Guards the guard: replaying against a different workflow must fail, or the tests above prove nothing.
    const history = loadHistoryFixture('signal-cancelled.json');
    const { bundleWorkflowCode } = await import('@temporalio/worker');
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../fixtures/nondeterministic-workflow'),
      logger: {
        log: () => undefined,
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
    });
    const failures = await replayFailures(
      [
        { name: 'mutated', workflowId: 'mutated', history },
        { name: 'after', workflowId: 'after', history },
      ],
      { code },
    );
    // Each history is reported, the one after a failure too: one replay worker goes on after a failure.
    expect(failures).toEqual([
      expect.stringMatching(/^mutated: .*[Nn]ondeterminis/),
      expect.stringMatching(/^after: .*[Nn]ondeterminis/),
    ]);
  });
});
