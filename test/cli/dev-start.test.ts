// What a newcomer sees on `npm start` (`batchkeeper dev`): the banner, and no line that reads like a fault, at a
// terminal (pretty logs) and through a pipe (JSON logs). The dev server, emulator and worker are real processes.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { temporalCliPath } from '../client/local-server';
import {
  CLI_MAIN,
  REPO,
  cleanEnv,
  freePort,
  requireFile,
  sleep,
  spawnBatchkeeper,
  spawnTracked,
  stopAll,
  tempDir,
  type Proc,
} from '../e2e/harness';

const READY = /batchkeeper is ready/;
const NO_WORKFLOWS = 'No workflows registered';
// pino's numeric levels in JSON, the level names in pino-pretty's lines.
const JSON_WARNING = /"level":(40|50|60)\b/;
const PRETTY_WARNING = /\b(WARN|ERROR|FATAL)\b/;

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function devSetup(): Promise<{ dir: string; env: NodeJS.ProcessEnv; args: string[] }> {
  const dir = tempDir('dev-start');
  dirs.push(dir);
  const cli = requireFile(temporalCliPath(), 'the Temporal CLI (TEMPORAL_CLI_PATH or the provisioned cache)');
  // No provider key (cleanEnv drops them): the emulator stands in, as on a newcomer's machine.
  const env = cleanEnv({ TEMPORAL_CLI_PATH: cli });
  const args = [
    'dev',
    '--data-dir',
    join(dir, 'data'),
    '--temporal-port',
    String(await freePort()),
    '--ui-port',
    String(await freePort()),
    '--emulator-port',
    String(await freePort()),
  ];
  return { dir, env, args };
}

/** What a person reads: no colour codes, no carriage returns from the terminal. */
const plain = (s: string) => stripVTControlCharacters(s).replace(/\r/g, '');

test('through a pipe, at the default level: the banner and not one log line', async () => {
  const { dir, env, args } = await devSetup();
  const dev = spawnBatchkeeper(args, { env, cwd: dir, processGroup: true });
  try {
    await dev.waitFor(READY, 90_000);
    // The workers start polling (and the SDK has its say about each) just after the banner.
    await sleep(3000);
    const out = dev.stdout() + dev.stderr();
    expect(out).not.toContain(NO_WORKFLOWS);
    expect(out).not.toMatch(JSON_WARNING);
    expect(out).not.toMatch(PRETTY_WARNING);
    expect(out.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(dev.stderr()).toBe('');
  } finally {
    await dev.stop(15_000);
  }
});

/**
 * `dev` on a pseudo-terminal of `script(1)`, so its stdout is a TTY. script makes the command a session (and
 * process group) of its own, which a signal to script's group would miss: the command prints its pid first.
 */
function spawnOnTerminal(args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }): Proc {
  const loader = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', loader, CLI_MAIN, ...args].map(quote).join(' ');
  return spawnTracked('script', ['-qfc', `echo "dev session $$"; exec ${command}`, '/dev/null'], {
    ...opts,
    processGroup: true,
  });
}

async function stopSession(term: Proc): Promise<void> {
  const session = /dev session (\d+)/.exec(term.stdout());
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (session) process.kill(-Number(session[1]), sig);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([term.exited, new Promise((r) => (timer = setTimeout(r, 15_000)))]);
  clearTimeout(timer);
  // The dev server is in the session's group too: nothing of it may outlive the test.
  signal('SIGKILL');
  await term.stop(2000);
}

test('at a terminal, at level info: pino-pretty lines, none of them a warning', async () => {
  const { dir, env, args } = await devSetup();
  const term = spawnOnTerminal(args, {
    env: { ...env, BATCHKEEPER_LOG_LEVEL: 'info', TERM: 'xterm' },
    cwd: dir,
  });
  try {
    await term.waitFor(READY, 90_000);
    // The workflow worker and the three provider queue workers (openai, dashscope, emulator) polling.
    await term.waitFor(/RUNNING[^]*?RUNNING[^]*?RUNNING[^]*?RUNNING/, 30_000);
    await sleep(1000);
    const out = plain(term.stdout());
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(batchkeeper\): worker ready$/m);
    expect(out).toMatch(/^ {4}taskQueue: "batchkeeper-provider-emulator"$/m);
    expect(out.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(out).not.toContain(NO_WORKFLOWS);
    expect(out).not.toMatch(PRETTY_WARNING);
  } finally {
    await stopSession(term);
  }
});
