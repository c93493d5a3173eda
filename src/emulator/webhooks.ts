import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from './clock';
import type { Faults, WebhookFaultDecision } from './faults';
import { settle, stateAt, type BatchState } from './lifecycle';
import type { ResolvedWebhooks } from './options';
import type { BatchStore, FileStore } from './store';
import { TERMINAL, type BatchRec } from './types';

/** One attempt to deliver one event to one URL. */
export interface WebhookDelivery {
  /** `webhook-id`: the same for every attempt and duplicate of one event. */
  webhookId: string;
  eventId: string;
  type: string;
  batchId: string;
  url: string;
  /** 1 for the first attempt of a delivery; a duplicate starts at 1 again. */
  attempt: number;
  /** HTTP status; 0 when no answer came (connection refused, timeout, emulator closing). */
  status: number;
  /** Wall-clock unix milliseconds the attempt was made. */
  at: number;
}

interface OutgoingEvent {
  webhookId: string;
  eventId: string;
  type: string;
  batchId: string;
  createdAt: number;
  body: string;
}

const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_LOG = 10_000;

/**
 * Sends a signed Standard Webhook when a batch reaches a terminal status, as OpenAI does (`batch.completed`,
 * `batch.failed`, `batch.expired`, `batch.cancelled`): at least once per URL, retried on non-2xx answers and
 * network errors with doubling waits, and subject to the `webhooks` faults (duplicates, delays, reordering).
 *
 * The lifecycle has no timers (state is a function of the clock), so a scan looks for newly terminal batches:
 * on every `advance()` and, for the real clock, every `scanIntervalMs` of wall time.
 */
export class WebhookSender {
  private readonly announced = new Set<string>();
  private readonly log: WebhookDelivery[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private held: { event: OutgoingEvent; release: () => void } | null = null;
  private scanning: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ResolvedWebhooks,
    private readonly deps: { clock: Clock; files: FileStore; batches: BatchStore; faults: Faults },
    private readonly scanIntervalMs = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.scan(), this.scanIntervalMs);
    this.timer.unref();
  }

  /** Announces every batch that reached a terminal status since the last scan; concurrent calls share one scan. */
  scan(): Promise<void> {
    this.scanning ??= this.scanOnce().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  deliveries(): WebhookDelivery[] {
    return this.log.map((d) => ({ ...d }));
  }

  /** Resolves once every event due so far has been delivered or given up (held events included). */
  async idle(): Promise<void> {
    await this.scan();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Stops scanning and abandons pending deliveries (a provider going away mid-retry). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.closing.abort();
    this.held?.release();
    await Promise.allSettled([...this.running]);
    await this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const { clock, files, batches } = this.deps;
    const ended: OutgoingEvent[] = [];
    for (const rec of batches.all()) {
      if (this.announced.has(rec.id) || this.closing.signal.aborted) continue;
      const due = stateAt(rec, clock.now());
      if (!TERMINAL.has(due.status) && (due.need === undefined || due.need === 'validation')) continue;
      // The result files are written first, so a receiver that retrieves the batch at once finds them.
      const state = await settle(rec, clock, files, batches);
      if (!TERMINAL.has(state.status) || this.announced.has(rec.id)) continue;
      this.announced.add(rec.id);
      ended.push(this.event(rec, state));
    }
    // In the order the batches ended, as a provider would send them (one advance() may end several).
    ended.sort((a, b) => a.createdAt - b.createdAt);
    for (const event of ended) this.emit(event, this.deps.faults.decideWebhook());
  }

  private event(rec: BatchRec, state: BatchState): OutgoingEvent {
    const at = state.completedAt ?? state.failedAt ?? state.expiredAt ?? state.cancelledAt;
    const createdAt = Math.floor(at ?? this.deps.clock.now());
    const eventId = `evt_${randomBytes(16).toString('hex')}`;
    const type = `batch.${state.status}`;
    const body = JSON.stringify({
      id: eventId,
      object: 'event',
      created_at: createdAt,
      type,
      data: { id: rec.id },
    });
    const webhookId = `wh_${randomBytes(16).toString('hex')}`;
    return { webhookId, eventId, type, batchId: rec.id, createdAt, body };
  }

  /** A held (reordering) event goes out right after the next one, so that one arrives first. */
  private emit(event: OutgoingEvent, fault: WebhookFaultDecision): void {
    const overtaken = this.held;
    this.held = null;
    if (fault.holdMs !== null) {
      this.hold(event, fault, fault.holdMs);
      overtaken?.release();
      return;
    }
    const sent = this.track(this.dispatch(event, fault));
    if (overtaken) void sent.finally(() => overtaken.release());
  }

  private hold(event: OutgoingEvent, fault: WebhookFaultDecision, holdMs: number): void {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(release, holdMs);
    this.held = { event, release };
    void this.track(
      released.then(() => {
        clearTimeout(timer);
        if (this.held?.event === event) this.held = null;
        return this.dispatch(event, fault);
      }),
    );
  }

  private track(work: Promise<void>): Promise<void> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return work;
  }

  private async dispatch(event: OutgoingEvent, fault: WebhookFaultDecision): Promise<void> {
    await Promise.all(
      this.config.urls.map(async (url) => {
        await this.deliver(url, event, fault.delayMs);
        if (fault.duplicate) await this.deliver(url, event, 0);
      }),
    );
  }

  private async deliver(url: string, event: OutgoingEvent, delayMs: number): Promise<void> {
    const { maxAttempts, retryDelayMs, maxRetryDelayMs } = this.config;
    if (!(await this.sleep(delayMs))) return;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const status = await this.post(url, event);
      this.record({ ...pick(event), url, attempt, status, at: Date.now() });
      if (status >= 200 && status < 300) return;
      if (attempt === maxAttempts) return;
      const wait = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** (attempt - 1));
      if (!(await this.sleep(wait))) return;
    }
  }

  /** Signed per attempt with the attempt's own timestamp, so a retry is not refused as stale. */
  private async post(url: string, event: OutgoingEvent): Promise<number> {
    if (this.closing.signal.aborted) return 0;
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        body: event.body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'batchkeeper-emulator',
          'webhook-id': event.webhookId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': sign(this.config.secret, event.webhookId, timestamp, event.body),
        },
        signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch {
      return 0;
    }
  }

  private record(d: WebhookDelivery): void {
    this.log.push(d);
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
  }

  /** False when the emulator closed meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.closing.signal;
    if (signal.aborted) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}

/** Standard Webhooks v1: base64 HMAC-SHA256 of `id.timestamp.body`, keyed by the base64 part of `whsec_...`. */
export function sign(secret: string, webhookId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${webhookId}.${timestamp}.${body}`).digest('base64')}`;
}

function pick(e: OutgoingEvent): Pick<WebhookDelivery, 'webhookId' | 'eventId' | 'type' | 'batchId'> {
  return { webhookId: e.webhookId, eventId: e.eventId, type: e.type, batchId: e.batchId };
}
