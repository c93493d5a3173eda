// The one SDK warning an activity-only worker always gets, dropped for those workers only.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { NO_WORKFLOWS_WARNING, expectActivityOnly, temporalLogger } from '../../src/worker/logger';

describe('temporalLogger', () => {
  test("the dropped message is the SDK's own words", () => {
    const sdkWorker = readFileSync(require.resolve('@temporalio/worker/lib/worker.js'), 'utf8');
    expect(sdkWorker).toContain(`this.logger.warn('${NO_WORKFLOWS_WARNING}')`);
  });

  function capture(): {
    logger: pino.Logger;
    lines: () => { level: number; msg: string; taskQueue?: string }[];
  } {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    return {
      logger,
      lines: () =>
        text
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { level: number; msg: string; taskQueue?: string }),
    };
  }

  test('drops the no-workflows warning of a declared activity-only queue, and nothing else', () => {
    const { logger, lines } = capture();
    const sdk = temporalLogger(logger, 'info');
    expectActivityOnly('tq-unit-provider-emulator');
    const worker = { sdkComponent: 'worker' };

    sdk.warn(NO_WORKFLOWS_WARNING, { ...worker, taskQueue: 'tq-unit-provider-emulator' });
    // The same words from a worker that was meant to run workflows are a real misconfiguration.
    sdk.warn(NO_WORKFLOWS_WARNING, { ...worker, taskQueue: 'tq-unit' });
    sdk.warn('No activities registered, not polling for activity tasks', {
      ...worker,
      taskQueue: 'tq-unit-provider-emulator',
    });
    sdk.error('Worker failed', { ...worker, taskQueue: 'tq-unit-provider-emulator' });
    sdk.warn(NO_WORKFLOWS_WARNING);

    expect(lines().map((l) => [l.level, l.msg, l.taskQueue])).toEqual([
      [40, NO_WORKFLOWS_WARNING, 'tq-unit'],
      [40, 'No activities registered, not polling for activity tasks', 'tq-unit-provider-emulator'],
      [50, 'Worker failed', 'tq-unit-provider-emulator'],
      [40, NO_WORKFLOWS_WARNING, undefined],
    ]);
  });
});
