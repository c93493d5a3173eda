// Keys live only in the worker's environment. Completed, cancelled and refused (401) workflows run here, the
// emulator's 401s quoting the wrong key (whole, and masked as OpenAI does), and then everything the run produced
// is searched for any key: every history (raw, and every payload decoded), descriptions and current details, the
// worker's logs, the ledger and the files the worker wrote, the CLI's output and the errors clients saw.
import pino from 'pino';
import OpenAI from 'openai';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createActivities } from '../../activities';
import { ProviderRegistry } from '../../activities/providers';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { maskKey } from '../../src/emulator/unauthorized';
import { openLedger, type Ledger } from '../../src/ledger';
import { ledgerSink } from '../../src/worker/ledger-sink';
import { temporalLogger } from '../../src/worker/logger';
import { registerSearchAttributes } from '../../src/worker/search-attributes';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, cancelSignal } from '../../workflows/contract';
import { runCli } from '../cli/run-cli';
import { client, createChatBatch } from '../emulator/helpers';
import { testServerPath } from '../helpers/temporal-env';
import { serveProviderQueues, uniqueTaskQueue } from '../helpers/worker';
import { workflowBundle } from '../helpers/workflow-bundle';

/** Every key carries this marker, so a fragment of one is found too (masked forms are searched for separately). */
const MARKER = 'do-not-leak';
/** The emulator's key: the one that works. */
const SECRET = `sk-live-SECRET-${MARKER}-4242`;
/** A revoked key that emulator `echoing` quotes whole in its 401. Not sk-shaped: only knowing the value redacts it. */
const REVOKED = `rk-REVOKED-${MARKER}-9d8c7b6a`;
/** A wrong key that emulator `masking` quotes as OpenAI does: sk-proj-****1357. */
const MASKED = `sk-proj-MASKED-${MARKER}-1357`;

const needles: Record<string, string> = {
  marker: MARKER,
  secret: SECRET,
  revoked: REVOKED,
  masked: MASKED,
  'masked as echoed': maskKey(MASKED),
  'masked tail': `****${MASKED.slice(-4)}`,
  ...Object.fromEntries(
    [SECRET, REVOKED, MASKED].map((k, i) => [`base64 of key ${i}`, Buffer.from(k).toString('base64')]),
  ),
};

let env: TestWorkflowEnvironment;
let echoing: EmulatorHandle;
let masking: EmulatorHandle;
let ledger: Ledger;
const dir = mkdtempSync(join(tmpdir(), 'bk-secrets-'));
const ledgerPath = join(dir, 'ledger.sqlite');
/** What the worker's Runtime logger (worker, workflow and activity logs) writes, as pino JSON lines. */
const logLines: string[] = [];

beforeAll(async () => {
  // Installed before anything else creates the Runtime: the production logger adapter at trace level, into memory.
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
  Runtime.install({
    logger: temporalLogger(logger, 'trace'),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
  const path = testServerPath();
  env = await TestWorkflowEnvironment.createTimeSkipping(
    path ? { server: { executable: { type: 'existing-path', path } } } : undefined,
  );
  const registered = await registerSearchAttributes(
    env.connection.operatorService,
    env.namespace ?? 'default',
  );
  if ('error' in registered) throw new Error(registered.error);
  echoing = await startEmulator({
    clock: 'manual',
    apiKey: SECRET,
    keyEcho: 'full',
    validatingSeconds: 5,
    requestSeconds: 2,
    finalizingSeconds: 5,
  });
  masking = await startEmulator({ keyEcho: 'masked' });
  ledger = await openLedger({ sqlitePath: ledgerPath });
});
afterAll(async () => {
  await ledger?.close();
  await echoing?.close();
  await masking?.close();
  await env?.teardown();
});

/** Every Payload anywhere in a proto message tree (inputs, results, signals, failure details, search attributes,
 * memo, headers, user metadata), decoded with the default data converter; undecodable ones as UTF-8 text. */
function decodedPayloads(root: unknown): string[] {
  const out: string[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array) return;
    const p = node as Payload;
    if (p.data instanceof Uint8Array && p.metadata && typeof p.metadata === 'object') {
      let text: string;
      try {
        const value: unknown = defaultPayloadConverter.fromPayload(p);
        text =
          value instanceof Uint8Array
            ? Buffer.from(value).toString('utf8')
            : typeof value === 'string'
              ? value
              : JSON.stringify(value);
      } catch {
        text = Buffer.from(p.data).toString('utf8');
      }
      out.push(text);
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(root);
  return out;
}

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

test('no key, whole, masked or encoded, in anything a run produces, 401s that quote the key included', async () => {
  // The emulators really quote the wrong key, so the searches below look at real echoes.
  const echoed = await client(echoing, echoing.url, REVOKED)
    .batches.list()
    .catch((e: Error) => e.message);
  expect(echoed).toContain(REVOKED);
  const masked = await client(masking, masking.url, MASKED)
    .batches.list()
    .catch((e: Error) => e.message);
  expect(masked).toContain(maskKey(MASKED));

  const providerEnv = { EMU_API_KEY: SECRET, BAD_KEY: REVOKED, MASKED_KEY: MASKED };
  const registry = new ProviderRegistry(
    [
      { name: 'emu', baseURL: echoing.url, apiKeyEnv: 'EMU_API_KEY', kind: 'openai' },
      { name: 'revoked', baseURL: echoing.url, apiKeyEnv: 'BAD_KEY', kind: 'openai' },
      { name: 'masked', baseURL: masking.url, apiKeyEnv: 'MASKED_KEY', kind: 'openai' },
    ],
    providerEnv,
  );
  const activities = createActivities({
    providers: registry,
    outcomes: ledgerSink(ledger),
    resultsDir: join(dir, 'results'),
    stagingDir: join(dir, 'staging'),
  });
  const api: OpenAI = client(echoing, echoing.url, SECRET);
  const done = await createChatBatch(api, 3);
  const cancelled = await createChatBatch(api, 50);
  const input = join(dir, 'input.jsonl');
  writeFileSync(input, JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }) + '\n');

  const taskQueue = uniqueTaskQueue('secrets');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  const providerQueues = await serveProviderQueues(env.nativeConnection, taskQueue, activities);
  const cli: string[] = [];
  const clientErrors: string[] = [];
  const described: string[] = [];
  const handles: WorkflowHandle[] = [];
  const cliRun = async (args: string[]) => {
    const run = await runCli(['--task-queue', taskQueue, ...args], { client: env.client });
    cli.push(`${args.join(' ')} -> ${run.code}\n${run.stdout}\n${run.stderr}`);
    return run;
  };

  const submitRun = await worker.runUntil(async () => {
    const start = (batchId: string, provider: string) =>
      env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(batchId),
        args: [{ batchId, provider }],
      });
    const h1 = await start(done.id, 'emu');
    const h2 = await start(cancelled.id, 'emu');
    const h3 = await start('batch_refused_echoed', 'revoked');
    const h4 = await start('batch_refused_masked', 'masked');
    handles.push(h1, h2, h3, h4);
    await echoing.advance(20);
    await h2.signal(cancelSignal, { reason: 'secrets test' });
    // The emulator's clock is manual: let the cancel reach it before moving time on.
    while (!echoing.calls().some((c) => c.path.endsWith('/cancel')))
      await new Promise((r) => setTimeout(r, 10));
    await echoing.advance(600);
    expect((await h1.result()).status).toBe('completed');
    expect((await h2.result()).status).toBe('cancelled');
    for (const h of [h3, h4]) {
      const err = await h.result().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).not.toBeNull();
      clientErrors.push(inspect(err, { depth: 20 }));
    }

    // A submission on the revoked key fails in an activity; the CLI prints its cause chain.
    const submit = await cliRun([
      'submit',
      input,
      '--provider',
      'revoked',
      '--model',
      'm',
      '--name',
      's',
      '--wait',
    ]);
    handles.push(env.client.workflow.getHandle('submit-s'));
    for (const id of [done.id, cancelled.id, 'batch_refused_echoed', 'batch_refused_masked'])
      await cliRun(['status', id]);
    await cliRun(['--json', 'status', 'batch_refused_echoed']);

    for (const h of handles) {
      const d = await h.describe();
      described.push(JSON.stringify(d.raw), ...decodedPayloads(d.raw));
      // Current details and user metadata as the Web UI reads them (answered by this worker, also once closed).
      described.push(JSON.stringify(await h.query('__temporal_workflow_metadata')));
    }
    return submit;
  });
  await providerQueues.stop();
  await cliRun(['billing', '--ledger', ledgerPath, '--json']);

  const histories = await Promise.all(handles.map((h) => h.fetchHistory()));
  const haystacks: [string, string][] = [];
  histories.forEach((history, i) => {
    const id = handles[i].workflowId;
    haystacks.push([`history ${id} (raw)`, historyToJSON(history)]);
    haystacks.push([`history ${id} (decoded payloads)`, decodedPayloads(history).join('\n')]);
  });
  haystacks.push(['descriptions and current details', described.join('\n')]);
  haystacks.push(['worker logs', logLines.join('')]);
  haystacks.push(['ledger rows', JSON.stringify(await ledger.list())]);
  for (const file of filesUnder(dir).filter((f) => f !== input))
    haystacks.push([`file ${file}`, readFileSync(file).toString('latin1')]);
  haystacks.push(['CLI output', cli.join('\n')]);
  haystacks.push(['errors seen by clients', clientErrors.join('\n')]);

  const leaks = haystacks.flatMap(([where, text]) =>
    Object.entries(needles)
      .filter(([, needle]) => text.includes(needle))
      .map(([name]) => `${name} in ${where}`),
  );
  expect(leaks).toEqual([]);

  // The searches looked at the real thing: decoded signals, the refusals' messages as the workers and the CLI
  // saw them (quoting a redacted key), billing rows, logs of those failures.
  const all = Object.fromEntries(haystacks);
  const decodedH2 = all[`history ${handles[1].workflowId} (decoded payloads)`];
  expect(decodedH2).toContain('secrets test');
  for (const h of [handles[2], handles[3]]) {
    const raw = all[`history ${h.workflowId} (raw)`];
    expect(raw).toContain('Incorrect API key provided: [redacted].');
  }
  expect(all[`history ${handles[2].workflowId} (raw)`]).toContain('BAD_KEY');
  expect(submitRun.code).toBe(1);
  expect(submitRun.stderr).toMatch(/createBatch: .*Incorrect API key provided: \[redacted\]\./);
  expect(all['ledger rows']).toContain(done.id);
  expect(all['worker logs']).toContain('ProviderAuthFailed');
  expect(haystacks.filter(([where]) => where.startsWith('file ')).length).toBeGreaterThan(2);
});
