import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { recordScenarios } from '../helpers/scenarios';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

const FIXTURES = join(__dirname, '..', 'fixtures', 'histories');

const env = useTimeSkippingEnv();

describe('determinism', () => {
  test('recorded fixture histories replay with the current workflow code', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(['completed.json', 'signal-cancelled.json', 'workflow-cancelled.json']);
    for (const file of files) {
      const history = historyFromJSON(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')));
      await expect(
        Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file),
      ).resolves.toBeUndefined();
    }
  });

  test('histories recorded now replay too (signals, timers and cancellation included)', async () => {
    const scenarios = await recordScenarios(env, '_fresh');
    expect(scenarios.map((s) => s.name)).toEqual(['completed', 'signal-cancelled', 'workflow-cancelled']);
    for (const s of scenarios) {
      const types = new Set((s.history.events ?? []).map((e) => e.eventType));
      expect(types.size).toBeGreaterThan(5);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, s.history, s.workflowId);
    }
  });

  test('a workflow change that reorders commands is caught by replay', async () => {
    // Guards the guard: replaying against a different workflow must fail, or the tests above prove nothing.
    const history = historyFromJSON(
      JSON.parse(readFileSync(join(FIXTURES, 'signal-cancelled.json'), 'utf8')),
    );
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
