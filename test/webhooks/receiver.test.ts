// The receiver's HTTP contract with a stub forwarder: what is verified, what is rejected (4xx, nothing forwarded),
// what is deduplicated, and what the provider is told to retry (5xx).
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ForwardResult } from '../../src/webhooks/forward';
import { buildWebhookServer } from '../../src/webhooks/server';
import { DeliveryVerifier } from '../../src/webhooks/verify';
import type { ProviderEvent } from '../../workflows/contract';
import { batchEvent, newSecret, signature, signedHeaders } from './signing';

const SECRET = newSecret();
const OTHER_SECRET = newSecret();

interface Stub {
  calls: { event: ProviderEvent; trackUnknown: boolean }[];
  next: (event: ProviderEvent) => Promise<ForwardResult>;
}

function setup(): { app: FastifyInstance; stub: Stub } {
  const stub: Stub = { calls: [], next: () => Promise.resolve('signalled') };
  const app = buildWebhookServer({
    endpoints: [
      { profile: 'openai', secret: SECRET, trackUnknown: false },
      { profile: 'other', secret: OTHER_SECRET, trackUnknown: true },
    ],
    forwarder: {
      forward: (event, trackUnknown) => {
        stub.calls.push({ event, trackUnknown });
        return stub.next(event);
      },
    },
    logger: pino({ level: 'silent' }),
  });
  return { app, stub };
}

let app: FastifyInstance;
let stub: Stub;
let origin: string;
beforeEach(async () => {
  ({ app, stub } = setup());
  origin = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterEach(() => app.close());

/** Over real HTTP, so the body reaches the server byte for byte as a provider sends it. */
async function post(profile: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${origin}/webhooks/${profile}`, { method: 'POST', body, headers });
  const text = await res.text();
  return { statusCode: res.status, json: () => JSON.parse(text) as unknown };
}

test('a Standard Webhooks test vector verifies (published signature, not computed by the code under test)', async () => {
  // From the Standard Webhooks specification's reference implementations; the timestamp is from 2021, so the
  // tolerance is widened for this one check.
  const verifier = new DeliveryVerifier('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 10 ** 10);
  const body = '{"test": 2432232314}';
  const headers = {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  };
  const result = await verifier.verify(body, headers);
  // Signature accepted; the body is no event, which is the next check.
  expect(result).toEqual({ ok: false, status: 400, reason: expect.stringMatching(/^not an event/) });
  const tampered = await verifier.verify('{"test": 2432232315}', headers);
  expect(tampered).toMatchObject({ ok: false, status: 401 });
});

test('a signed batch event is forwarded once as a ProviderEvent for its profile, and answered 200', async () => {
  const { id, body } = batchEvent('batch_abc', 'batch.completed');
  const res = await post('openai', body, signedHeaders(SECRET, id, body));
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: 'signalled' });
  expect(stub.calls).toEqual([
    {
      event: {
        webhookId: id,
        type: 'batch.completed',
        createdAt: (JSON.parse(body) as { created_at: number }).created_at,
        batchId: 'batch_abc',
        provider: 'openai',
      },
      trackUnknown: false,
    },
  ]);
});

test('the raw body is verified as sent: whitespace a JSON re-serialization would drop still verifies', async () => {
  const id = 'evt_spaced';
  const body = `{ "id": "${id}",  "object": "event", "type": "batch.failed",\n "created_at": 1700000000, "data": { "id": "batch_sp" } }`;
  const res = await post('openai', body, {
    ...signedHeaders(SECRET, id, body),
    'content-type': 'text/plain',
  });
  expect(res.statusCode).toBe(200);
  expect(stub.calls.map((c) => c.event.batchId)).toEqual(['batch_sp']);
});

test('the profile in the path picks the secret and the trackUnknown setting', async () => {
  const { id, body } = batchEvent('batch_other');
  expect((await post('openai', body, signedHeaders(OTHER_SECRET, id, body))).statusCode).toBe(401);
  const res = await post('other', body, signedHeaders(OTHER_SECRET, id, body));
  expect(res.statusCode).toBe(200);
  expect(stub.calls).toEqual([expect.objectContaining({ trackUnknown: true })]);
  expect(stub.calls[0].event.provider).toBe('other');
});

describe('rejected with 4xx, nothing forwarded', () => {
  afterEach(() => expect(stub.calls).toEqual([]));

  test('a bad signature', async () => {
    const { id, body } = batchEvent('batch_bad');
    const headers = signedHeaders(SECRET, id, body);
    const res = await post('openai', body, {
      ...headers,
      'webhook-signature': signature(SECRET, id, Number(headers['webhook-timestamp']), body + ' '),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: expect.stringMatching(/signature does not match/) });
  });

  test('a body changed after signing', async () => {
    const { id, body } = batchEvent('batch_real');
    const res = await post(
      'openai',
      body.replace('batch_real', 'batch_fake'),
      signedHeaders(SECRET, id, body),
    );
    expect(res.statusCode).toBe(401);
  });

  test('a signature made for another webhook-id (a replayed signature on a new id)', async () => {
    const { id, body } = batchEvent('batch_id');
    const res = await post('openai', body, { ...signedHeaders(SECRET, id, body), 'webhook-id': 'evt_other' });
    expect(res.statusCode).toBe(401);
  });

  test('a stale timestamp (signed correctly, 301 s old)', async () => {
    const { id, body } = batchEvent('batch_old');
    const res = await post(
      'openai',
      body,
      signedHeaders(SECRET, id, body, Math.floor(Date.now() / 1000) - 301),
    );
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: expect.stringMatching(/too old/) });
  });

  test('a future timestamp (signed correctly, 301 s ahead)', async () => {
    const { id, body } = batchEvent('batch_future');
    const res = await post(
      'openai',
      body,
      signedHeaders(SECRET, id, body, Math.floor(Date.now() / 1000) + 301),
    );
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: expect.stringMatching(/too new/) });
  });

  test.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('a missing %s header', async (name) => {
    const { id, body } = batchEvent('batch_hdr');
    const headers = signedHeaders(SECRET, id, body);
    delete headers[name];
    const res = await post('openai', body, headers);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: `missing header ${name}` });
  });

  test('a body over the size limit (256 KiB), even signed', async () => {
    const id = 'evt_big';
    const body = JSON.stringify({
      id,
      type: 'batch.completed',
      created_at: 1,
      data: { id: 'batch_big' },
      pad: 'x'.repeat(256 * 1024),
    });
    const res = await post('openai', body, signedHeaders(SECRET, id, body));
    expect(res.statusCode).toBe(413);
  });

  test('an unknown profile (404), even with a valid signature', async () => {
    const { id, body } = batchEvent('batch_nop');
    const res = await post('nobody', body, signedHeaders(SECRET, id, body));
    expect(res.statusCode).toBe(404);
  });

  test('a signed body that is not an event', async () => {
    const id = 'evt_shape';
    const body = JSON.stringify({ hello: 'world' });
    const res = await post('openai', body, signedHeaders(SECRET, id, body));
    expect(res.statusCode).toBe(400);
  });
});

test('a timestamp inside the tolerance (200 s old) is accepted', async () => {
  const { id, body } = batchEvent('batch_recent');
  const res = await post(
    'openai',
    body,
    signedHeaders(SECRET, id, body, Math.floor(Date.now() / 1000) - 200),
  );
  expect(res.statusCode).toBe(200);
  expect(stub.calls).toHaveLength(1);
});

test('a replayed webhook-id is answered 200 and forwarded only once, also when the copies arrive together', async () => {
  const { id, body } = batchEvent('batch_dup');
  const first = await post('openai', body, signedHeaders(SECRET, id, body));
  // A redelivery is signed again with its own timestamp; the id stays.
  const again = await post(
    'openai',
    body,
    signedHeaders(SECRET, id, body, Math.floor(Date.now() / 1000) - 5),
  );
  expect(first.json()).toEqual({ status: 'signalled' });
  expect(again.statusCode).toBe(200);
  expect(again.json()).toEqual({ status: 'duplicate' });
  expect(stub.calls).toHaveLength(1);

  let release!: () => void;
  stub.next = () => new Promise((resolve) => (release = () => resolve('signalled')));
  const other = batchEvent('batch_together');
  const together = [1, 2, 3].map(() =>
    post('openai', other.body, signedHeaders(SECRET, other.id, other.body)),
  );
  await new Promise((r) => setTimeout(r, 50));
  release();
  const answers = await Promise.all(together);
  expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
  expect(stub.calls.map((c) => c.event.batchId)).toEqual(['batch_dup', 'batch_together']);
});

test('the same webhook-id on two profiles is two events', async () => {
  const { id, body } = batchEvent('batch_two');
  await post('openai', body, signedHeaders(SECRET, id, body));
  await post('other', body, signedHeaders(OTHER_SECRET, id, body));
  expect(stub.calls.map((c) => c.event.provider)).toEqual(['openai', 'other']);
});

test('a non-batch event is acknowledged and not forwarded', async () => {
  const id = 'evt_resp';
  const body = JSON.stringify({
    id,
    object: 'event',
    type: 'response.completed',
    created_at: 1,
    data: { id: 'resp_1' },
  });
  const res = await post('openai', body, signedHeaders(SECRET, id, body));
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: 'ignored' });
  expect(stub.calls).toEqual([]);
});

test('what the forwarder reports is the answer: an untracked batch is acknowledged (2xx)', async () => {
  stub.next = () => Promise.resolve('untracked');
  const { id, body } = batchEvent('batch_unknown');
  const res = await post('openai', body, signedHeaders(SECRET, id, body));
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: 'untracked' });
});

test('when forwarding fails the answer is 503, and the retried delivery is forwarded (not taken for a duplicate)', async () => {
  stub.next = () => Promise.reject(new Error('14 UNAVAILABLE: connection refused'));
  const { id, body } = batchEvent('batch_retry');
  const res = await post('openai', body, signedHeaders(SECRET, id, body));
  expect(res.statusCode).toBe(503);
  stub.next = () => Promise.resolve('signalled');
  const retry = await post('openai', body, signedHeaders(SECRET, id, body));
  expect(retry.statusCode).toBe(200);
  expect(retry.json()).toEqual({ status: 'signalled' });
  expect(stub.calls).toHaveLength(2);
});
