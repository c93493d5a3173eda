// `batchkeeper webhooks`: its configuration errors (one line, exit 2, no secret in them) and the command as a real
// process forwarding a signed delivery to a workflow on a real Temporal server.
import { ConfigError, loadProviderProfiles } from '../../src/config/providers';
import { BATCH_WORKFLOW_TYPE, batchWorkflowId, statusQuery } from '../../workflows/contract';
import { expectOneLineError, runCli } from '../cli/run-cli';
import { cleanEnv, spawnBatchkeeper, stopAll } from '../e2e/harness';
import { FakeProvider } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';
import { eventually, terminateIdle } from './polling';
import { batchEvent, newSecret, signedHeaders } from './signing';

const env = useTimeSkippingEnv();
afterAll(() => stopAll(1000));

const profile = (extra: Record<string, unknown>) =>
  JSON.stringify([{ name: 'fake', baseURL: 'http://fake.invalid/v1', apiKeyEnv: 'FAKE_KEY', ...extra }]);

describe('profile options are validated with one-line errors', () => {
  test.each([
    [{ webhookSecretEnv: 'not a name' }, /0\.webhookSecretEnv: an environment variable name/],
    [{ webhookSecretEnv: 'FAKE_KEY' }, /0\.webhookSecretEnv: must name another variable than apiKeyEnv/],
    [{ trackUnknown: true }, /0\.trackUnknown: needs webhookSecretEnv/],
    [{ webhookSecretEnv: 'WH', trackUnknown: 'yes' }, /0\.trackUnknown: /],
  ])('%j', (extra, message) => {
    let error: unknown;
    try {
      loadProviderProfiles({ BATCHKEEPER_PROVIDERS: profile(extra) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  test('the options reach the profile; trackUnknown false needs no secret variable', () => {
    const [withHooks] = loadProviderProfiles({
      BATCHKEEPER_PROVIDERS: profile({ webhookSecretEnv: 'FAKE_WEBHOOK_SECRET', trackUnknown: true }),
    }).filter((p) => p.name === 'fake');
    expect(withHooks).toMatchObject({ webhookSecretEnv: 'FAKE_WEBHOOK_SECRET', trackUnknown: true });
    expect(() =>
      loadProviderProfiles({ BATCHKEEPER_PROVIDERS: profile({ trackUnknown: false }) }),
    ).not.toThrow();
  });
});

test('without a profile that has webhooks the command exits 2 with one line naming the fix', async () => {
  const run = await runCli(['webhooks'], { client: env.client, env: {} });
  expect(run.code).toBe(2);
  expectOneLineError(run, /no provider profile has webhooks configured: add "webhookSecretEnv"/);
});

test('a profile whose secret variable is unset or empty is refused, naming the variable', async () => {
  for (const value of [undefined, ' ']) {
    const run = await runCli(['webhooks'], {
      client: env.client,
      env: {
        BATCHKEEPER_PROVIDERS: profile({ webhookSecretEnv: 'FAKE_WEBHOOK_SECRET' }),
        FAKE_WEBHOOK_SECRET: value,
      },
    });
    expect(run.code).toBe(2);
    expectOneLineError(run, /profile 'fake' names webhookSecretEnv FAKE_WEBHOOK_SECRET, which is not set/);
  }
});

test('the command as a process: a signed delivery reaches the workflow; the secret never appears in its output', async () => {
  const secret = newSecret();
  const fake = new FakeProvider({ id: 'wh_cli', total: 10, runSeconds: 36_000 }, () => env.currentTimeMs());
  await withWorker(env, fake.activities(), async (tq) => {
    const handle = await env.client.workflow.start(BATCH_WORKFLOW_TYPE, {
      workflowId: batchWorkflowId('wh_cli'),
      taskQueue: tq,
      args: [{ batchId: 'wh_cli', provider: 'fake' }],
    });
    const proc = spawnBatchkeeper(['webhooks', '--port', '0', '--address', env.address, '--task-queue', tq], {
      env: cleanEnv({
        BATCHKEEPER_PROVIDERS: profile({ webhookSecretEnv: 'BK_TEST_WEBHOOK_SECRET' }),
        BK_TEST_WEBHOOK_SECRET: secret,
      }),
    });
    await proc.waitFor(/"msg":"webhooks ready"/, 60_000);
    const ready = proc
      .stdout()
      .split('\n')
      .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg?: string; routes?: string[] }) : {}))
      .find((l) => l.msg === 'webhooks ready');
    const route = ready?.routes?.[0] ?? '';
    expect(route).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks\/fake$/);

    const event = batchEvent('wh_cli', 'batch.expired');
    const res = await fetch(route, {
      method: 'POST',
      body: event.body,
      headers: signedHeaders(secret, event.id, event.body),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'signalled' });
    const forged = await fetch(route, {
      method: 'POST',
      body: event.body,
      headers: signedHeaders(newSecret(), 'evt_forged', event.body),
    });
    expect(forged.status).toBe(401);

    await proc.waitFor(/"msg":"webhook signalled"/, 5000);
    await proc.stop(5000);
    expect((await proc.exited).code).toBe(0);
    expect(proc.stdout()).toMatch(/"msg":"stopping webhooks"/);
    const output = proc.stdout() + proc.stderr();
    expect(output).not.toContain(secret);
    expect(output).not.toContain(secret.slice('whsec_'.length));

    const view = await eventually(
      () => handle.query(statusQuery),
      (v) => v.events?.received === 1,
    );
    expect(view.events?.last?.webhookId).toBe(event.id);
    await terminateIdle(env.client, 'wh_cli');
  });
});
