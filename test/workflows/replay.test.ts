import { Worker } from '@temporalio/worker';
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

const env = useTimeSkippingEnv();

describe('determinism', () => {
  test('every frozen fixture history (each released version, each path) replays with the current code', async () => {
    // Fixtures are only ever added: a missing one means a recorded past was lost, not just renamed.
    expect(listHistoryFixtures()).toEqual(FROZEN_FIXTURES);
    for (const file of FROZEN_FIXTURES) {
      // Versions before 0.3.0 did not write their ids down: their histories replay under their file names.
      const workflowId = recordedWorkflowId(file) ?? file;
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: await workflowBundle() },
          loadHistoryFixture(file),
          workflowId,
        ),
      ).resolves.toBeUndefined();
    }
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
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, s.history, s.workflowId);
    }
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
    await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, 'mutated')).rejects.toThrow(
      /[Nn]ondeterminis/,
    );
  });
});
