// Push end to end on real processes: the emulator (over HTTP) sends signed webhooks to `batchkeeper webhooks`,
// which signals the batch's workflow run by a `batchkeeper worker` on the dev server. The terminal status is seen
// seconds after it happened although the safety-net polls are minutes apart, and billing is recorded once.
import { EMULATOR_PROVIDER, createBatch, freePort, spawnBatchkeeper } from './harness';
import { E2E_TIMEOUT_MS, useE2EWorld } from './world';

const SECRET_ENV = 'BK_E2E_WEBHOOK_SECRET';
const SECRET = `whsec_${Buffer.from('batchkeeper-e2e-webhook-secret!!').toString('base64')}`;

const e2e = useE2EWorld();

test(
  'a signed batch.completed webhook ends the wait: terminal seen within seconds, few provider calls, one ledger row',
  async () => {
    const port = await freePort();
    const w = await e2e.start({
      emulator: {
        requestSeconds: 0.1,
        webhookUrls: `http://127.0.0.1:${port}/webhooks/emulator`,
        webhookSecret: SECRET,
      },
      profile: { webhookSecretEnv: SECRET_ENV },
      extraEnv: { [SECRET_ENV]: SECRET },
    });
    const receiver = spawnBatchkeeper(['webhooks', '--port', String(port)], { env: w.env });
    await receiver.waitFor(/webhooks ready/, 60_000);

    const { batchId } = await createBatch(w.openai, 40, 'push');
    // Default poll policy: with webhooks on the profile the first polls are 30 s, 60 s, ... apart. Tracked from
    // here, not by a CLI process: on busy cores one took 5 to 15 s to start, longer than this batch runs, and the
    // webhook came before the workflow existed (the first look saw the batch completed; no event was received).
    await w.bk.track(batchId, { provider: EMULATOR_PROVIDER });
    const outcome = await w.bk.waitForOutcome(batchId, { timeoutMs: 60_000 });
    const seenAt = Date.now() / 1000;

    expect(outcome.status).toBe('completed');
    const completedAt = outcome.snapshot.timestamps.completedAt as number;
    // The batch completed ~5 s after creation; polling alone would have seen it at the 30 s poll at best.
    expect(seenAt - completedAt).toBeLessThan(5);
    expect(outcome.snapshot.pushed).toBe(true);
    const retrieves = w.emulator
      .calls()
      .filter((c) => c.route === 'batches.retrieve' && c.path.includes(batchId));
    expect(retrieves.length).toBeLessThanOrEqual(3);
    // The receiver never prints the secret.
    expect(receiver.stdout() + receiver.stderr()).not.toContain(SECRET);
    expect(await w.ledgerRows(batchId)).toHaveLength(1);
    // The worker still runs, so the closed workflow's query answers (replayed): the event was received.
    const status = await w.bk.status(batchId);
    expect(status.source).toBe('query');
    expect(status.source === 'query' && status.view.events?.received).toBeGreaterThanOrEqual(1);
  },
  E2E_TIMEOUT_MS,
);
