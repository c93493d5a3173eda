// The emulator's signed webhooks: delivered at every terminal status, signed as Standard Webhooks say (checked with
// an HMAC computed here), retried after a 5xx, and duplicated / delayed / reordered under the `webhooks` faults.
import pino from 'pino';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { buildWebhookServer } from '../../src/webhooks/server';
import type { ProviderEvent } from '../../workflows/contract';
import { runCli } from '../cli/run-cli';
import { KEY, chatLine, client, startManual, upload } from '../emulator/helpers';
import { newSecret, signature } from './signing';

const SECRET = newSecret();

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** An endpoint that records what arrives and answers the scripted statuses in turn, then 200. */
async function recorder(
  script: number[] = [],
  onReceive: () => void = () => undefined,
): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      onReceive();
      res.statusCode = script.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function emulatorTo(
  urls: string[],
  extra: Parameters<typeof startManual>[0] = {},
): Promise<EmulatorHandle> {
  const emu = await startManual({
    webhookUrls: urls,
    webhookSecret: SECRET,
    webhookRetryDelayMs: 20,
    ...extra,
  });
  open.push(emu);
  return emu;
}

async function createBatch(
  emu: EmulatorHandle,
  lines: object[] | string[] = [chatLine('a', 'hi'), chatLine('b', 'yo')],
) {
  const c = client(emu);
  const fileId = await upload(c, lines);
  return c.batches.create({
    input_file_id: fileId,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
}

const parse = (r: Received) =>
  JSON.parse(r.body) as {
    id: string;
    object: string;
    type: string;
    created_at: number;
    data: { id: string };
  };

test('a completed batch is announced once, signed with HMAC-SHA256 over id.timestamp.body, after its result files exist', async () => {
  let outputAtReceipt: string | null | undefined;
  const hook = await recorder([], () => {
    outputAtReceipt = emu.batch(batch.id)?.record.final?.outputFileId;
  });
  open.push(hook);
  const emu = await emulatorTo([hook.url]);
  const batch = await createBatch(emu);
  await emu.advance(5);
  await emu.webhooksIdle();
  expect(hook.received).toEqual([]);

  await emu.advance(3600);
  await emu.webhooksIdle();
  await emu.advance(10);
  await emu.webhooksIdle();
  expect(hook.received).toHaveLength(1);
  const [got] = hook.received;
  const id = got.headers['webhook-id'] as string;
  const timestamp = Number(got.headers['webhook-timestamp']);
  expect(id).toMatch(/^wh_[0-9a-f]{32}$/);
  expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(5);
  expect(got.headers['webhook-signature']).toBe(signature(SECRET, id, timestamp, got.body));
  expect(got.headers['content-type']).toBe('application/json');

  const finished = await client(emu).batches.retrieve(batch.id);
  expect(finished.status).toBe('completed');
  expect(finished.output_file_id).not.toBeNull();
  expect(outputAtReceipt).toBe(finished.output_file_id);
  expect(parse(got)).toEqual({
    id: expect.stringMatching(/^evt_/),
    object: 'event',
    type: 'batch.completed',
    created_at: finished.completed_at,
    data: { id: batch.id },
  });
  expect(emu.webhookDeliveries()).toEqual([
    expect.objectContaining({
      webhookId: id,
      type: 'batch.completed',
      batchId: batch.id,
      attempt: 1,
      status: 200,
      url: hook.url,
    }),
  ]);
  // Also over the admin API.
  const admin = (await (await fetch(`${emu.adminUrl}/webhooks`)).json()) as { data: unknown[] };
  expect(admin.data).toHaveLength(1);
});

test('failed, cancelled and expired batches are announced with their types, to every URL', async () => {
  const one = await recorder();
  const two = await recorder();
  open.push(one, two);
  const emu = await emulatorTo([one.url, two.url], { requestSeconds: 60 });
  const invalid = await createBatch(emu, ['not json']);
  const toCancel = await createBatch(emu);
  const tooLong = await createBatch(
    emu,
    Array.from({ length: 2000 }, (_, i) => chatLine(`r${i}`, 'x')),
  );
  await emu.advance(11);
  await client(emu).batches.cancel(toCancel.id);
  await emu.advance(25 * 3600);
  await emu.webhooksIdle();
  const types = (hook: { received: Received[] }) =>
    Object.fromEntries(hook.received.map((r) => [parse(r).data.id, parse(r).type]));
  const expected = {
    [invalid.id]: 'batch.failed',
    [toCancel.id]: 'batch.cancelled',
    [tooLong.id]: 'batch.expired',
  };
  expect(types(one)).toEqual(expected);
  expect(types(two)).toEqual(expected);
  expect(one.received).toHaveLength(3);
});

test('a 5xx answer is retried with the same webhook-id, each attempt signed for its own timestamp', async () => {
  const hook = await recorder([500, 503]);
  open.push(hook);
  const emu = await emulatorTo([hook.url]);
  await createBatch(emu);
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(hook.received).toHaveLength(3);
  const ids = new Set(hook.received.map((r) => r.headers['webhook-id']));
  expect(ids.size).toBe(1);
  for (const r of hook.received) {
    const ts = Number(r.headers['webhook-timestamp']);
    expect(r.headers['webhook-signature']).toBe(
      signature(SECRET, r.headers['webhook-id'] as string, ts, r.body),
    );
  }
  expect(emu.webhookDeliveries().map((d) => [d.attempt, d.status])).toEqual([
    [1, 500],
    [2, 503],
    [3, 200],
  ]);
});

test('an unreachable URL is retried a bounded number of times, then given up', async () => {
  const gone = await recorder();
  await gone.close();
  const emu = await emulatorTo([gone.url], { webhookMaxAttempts: 3, webhookRetryDelayMs: 10 });
  await createBatch(emu);
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(emu.webhookDeliveries().map((d) => [d.attempt, d.status])).toEqual([
    [1, 0],
    [2, 0],
    [3, 0],
  ]);
});

test('under the duplicate fault the same event (same webhook-id and body) arrives twice', async () => {
  const hook = await recorder();
  open.push(hook);
  const emu = await emulatorTo([hook.url], { faults: { webhooks: { duplicate: { nextN: 1 } } } });
  await createBatch(emu);
  await createBatch(emu);
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(hook.received).toHaveLength(3);
  const byId = new Map<string, Received[]>();
  for (const r of hook.received)
    byId.set(r.headers['webhook-id'] as string, [...(byId.get(r.headers['webhook-id'] as string) ?? []), r]);
  const copies = [...byId.values()].map((rs) => rs.length).sort();
  expect(copies).toEqual([1, 2]);
  const twice = [...byId.values()].find((rs) => rs.length === 2)!;
  expect(twice[0].body).toBe(twice[1].body);
  expect(emu.faults().webhooks?.duplicate?.nextN).toBe(0);
});

test('under the reorder fault an earlier event arrives after a later one; the delay fault holds one back', async () => {
  const hook = await recorder();
  open.push(hook);
  const emu = await emulatorTo([hook.url]);
  const first = await createBatch(emu);
  // Both still running: they end 5 s apart within the next advance().
  await emu.advance(5);
  const second = await createBatch(emu);
  emu.setFaults({ webhooks: { reorder: { nextN: 1 } } });
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(hook.received.map((r) => parse(r).data.id)).toEqual([second.id, first.id]);
  expect(parse(hook.received[1]).created_at).toBeLessThan(parse(hook.received[0]).created_at);

  emu.setFaults({ webhooks: { delay: { nextN: 1, ms: 400 } } });
  await createBatch(emu);
  const before = Date.now();
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(hook.received).toHaveLength(3);
  expect(hook.received[2].at - before).toBeGreaterThanOrEqual(400);
});

test('the faults are set over /admin/faults like the others, and an invalid one is refused', async () => {
  const emu = await emulatorTo(['http://127.0.0.1:9/hook']);
  const set = await fetch(`${emu.adminUrl}/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      webhooks: { duplicate: { rate: 0.5 }, delay: { ms: 100 }, reorder: { nextN: 2, holdMs: 50 } },
    }),
  });
  expect(set.status).toBe(200);
  expect(emu.faults().webhooks).toEqual({
    duplicate: { rate: 0.5 },
    delay: { ms: 100 },
    reorder: { nextN: 2, holdMs: 50 },
  });
  const bad = await fetch(`${emu.adminUrl}/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ webhooks: { duplicate: { rate: 2 } } }),
  });
  expect(bad.status).toBe(400);
});

test('with the real clock the webhook comes by itself, without any API call or advance()', async () => {
  const hook = await recorder();
  open.push(hook);
  const emu = await startEmulator({
    apiKey: KEY,
    webhookUrls: hook.url,
    webhookSecret: SECRET,
    validatingSeconds: 0.1,
    requestSeconds: 0.01,
    finalizingSeconds: 0.1,
  });
  open.push(emu);
  const batch = await createBatch(emu);
  const deadline = Date.now() + 5000;
  while (hook.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(hook.received.map((r) => parse(r).data.id)).toEqual([batch.id]);
  expect(emu.calls().filter((c) => c.route === 'batches.retrieve')).toEqual([]);
});

test("the emulator's signature is accepted by the receiver (openai SDK verification)", async () => {
  const forwarded: ProviderEvent[] = [];
  const app = buildWebhookServer({
    endpoints: [{ profile: 'emulator', secret: SECRET, trackUnknown: false }],
    forwarder: {
      forward: async (event) => {
        forwarded.push(event);
        return 'signalled';
      },
    },
    logger: pino({ level: 'silent' }),
  });
  open.push(app);
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  const emu = await emulatorTo([`${origin}/webhooks/emulator`], {
    faults: { webhooks: { duplicate: { nextN: 1 } } },
  });
  const batch = await createBatch(emu);
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(emu.webhookDeliveries().map((d) => d.status)).toEqual([200, 200]);
  // The duplicate is acknowledged by the receiver without a second forward.
  expect(forwarded).toEqual([
    expect.objectContaining({ batchId: batch.id, type: 'batch.completed', provider: 'emulator' }),
  ]);
});

test('without a webhook URL nothing is sent; a URL without a valid secret is refused without quoting it', async () => {
  const emu = await startManual();
  open.push(emu);
  await createBatch(emu);
  await emu.advance(3600);
  await emu.webhooksIdle();
  expect(emu.webhookDeliveries()).toEqual([]);

  await expect(startEmulator({ webhookUrls: 'http://127.0.0.1:9/' })).rejects.toThrow(
    /webhookSecret must be whsec_/,
  );
  const err = await startEmulator({ webhookUrls: 'http://127.0.0.1:9/', webhookSecret: 'whsec_short' }).then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/webhookSecret must be whsec_/);
  expect(err?.message).not.toContain('whsec_short');
  await expect(startEmulator({ webhookUrls: 'ftp://x/', webhookSecret: SECRET })).rejects.toThrow(/not http/);
});

describe('emulator command', () => {
  const runWith = async (args: string[], env: Record<string, string> = {}) => {
    const calls: { webhookUrls?: string[]; webhookSecret?: string }[] = [];
    const run = await runCli(['emulator', ...args], {
      env,
      runEmulator: async (opts) => {
        calls.push({ webhookUrls: opts.webhookUrls, webhookSecret: opts.webhookSecret });
      },
    });
    expect(run.code).toBe(0);
    return calls[0];
  };

  test('--webhook-url repeats; the secret comes from the flag or BATCHKEEPER_EMULATOR_WEBHOOK_SECRET', async () => {
    expect(
      await runWith([
        '--webhook-url',
        'http://a/x',
        '--webhook-url',
        'http://b/y',
        '--webhook-secret',
        SECRET,
      ]),
    ).toEqual({
      webhookUrls: ['http://a/x', 'http://b/y'],
      webhookSecret: SECRET,
    });
    expect(
      await runWith(['--webhook-url', 'http://a/x'], { BATCHKEEPER_EMULATOR_WEBHOOK_SECRET: SECRET }),
    ).toEqual({
      webhookUrls: ['http://a/x'],
      webhookSecret: SECRET,
    });
    expect(
      await runWith([], {
        BATCHKEEPER_EMULATOR_WEBHOOK_URL: 'http://a/x, http://b/y',
        BATCHKEEPER_EMULATOR_WEBHOOK_SECRET: SECRET,
      }),
    ).toEqual({ webhookUrls: ['http://a/x', 'http://b/y'], webhookSecret: SECRET });
  });

  test('no URL: no webhooks, even with a secret in the environment', async () => {
    expect(await runWith([], { BATCHKEEPER_EMULATOR_WEBHOOK_SECRET: SECRET })).toEqual({
      webhookUrls: undefined,
      webhookSecret: undefined,
    });
  });
});
