// How the worker and `dev` log: JSON for collectors, pino-pretty for a person at a terminal, either on request;
// and the one SDK warning an activity-only worker always gets, dropped for those workers only.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { ConfigError } from '../../src/config/providers';
import {
  NO_WORKFLOWS_WARNING,
  chooseLogFormat,
  expectActivityOnly,
  temporalLogger,
} from '../../src/worker/logger';
import { expectOneLineError, runCli } from '../cli/run-cli';

const REPO = resolve(__dirname, '..', '..');

describe('chooseLogFormat', () => {
  test.each([
    // [flag, BATCHKEEPER_LOG_FORMAT, interactive, expected]
    [undefined, undefined, true, 'pretty'],
    [undefined, undefined, false, 'json'],
    [undefined, '', true, 'pretty'],
    [undefined, 'json', true, 'json'],
    [undefined, ' JSON ', true, 'json'],
    [undefined, 'pretty', false, 'pretty'],
    ['json', 'pretty', true, 'json'],
    ['pretty', 'json', false, 'pretty'],
  ])('flag %p, env %p, terminal %p -> %p', (flag, value, interactive, expected) => {
    const env = value === undefined ? {} : { BATCHKEEPER_LOG_FORMAT: value };
    expect(chooseLogFormat({ flag, env, interactive })).toBe(expected);
  });

  test('an unknown BATCHKEEPER_LOG_FORMAT is a configuration error naming the variable and the choices', () => {
    const choose = () => chooseLogFormat({ env: { BATCHKEEPER_LOG_FORMAT: 'text' }, interactive: true });
    expect(choose).toThrow(ConfigError);
    expect(choose).toThrow(/BATCHKEEPER_LOG_FORMAT must be one of json, pretty; got 'text'/);
  });
});

describe('the commands refuse an unknown format before starting anything', () => {
  test('dev with BATCHKEEPER_LOG_FORMAT=text: exit 2, one line', async () => {
    const run = await runCli(['dev'], { env: { BATCHKEEPER_LOG_FORMAT: 'text' } });
    expect(run.code).toBe(2);
    expectOneLineError(run, /BATCHKEEPER_LOG_FORMAT must be one of json, pretty; got 'text'/);
    expect(run.stdout).toBe('');
  });

  test.each([['dev'], ['worker']])('%s --log-format text: exit 2 naming the choices', async (command) => {
    const run = await runCli([command, '--log-format', 'text']);
    expect(run.code).toBe(2);
    expectOneLineError(run, /'text' is invalid.*json, pretty/);
  });
});

/** What createLogger prints in a process of its own (the pretty transport writes from a thread to fd 1). */
function logLines(format: string): string {
  const loader = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const script = [
    `const { createLogger } = require(${JSON.stringify(join(REPO, 'src', 'worker', 'logger.ts'))});`,
    `const logger = createLogger('info', 'batchkeeper', ${JSON.stringify(format)});`,
    `logger.info({ provider: 'emulator' }, 'worker ready');`,
  ].join('\n');
  const run = spawnSync(process.execPath, ['--import', loader, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 30_000,
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}

describe('createLogger', () => {
  test('json: one JSON object a line', () => {
    const out = logLines('json');
    expect(JSON.parse(out.trim())).toMatchObject({ level: 30, name: 'batchkeeper', msg: 'worker ready' });
  });

  test("pretty: pino-pretty's lines, without pid and host", () => {
    const out = logLines('pretty');
    expect(out).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(batchkeeper\): worker ready\n {4}provider: "emulator"\n$/,
    );
  });
});

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
