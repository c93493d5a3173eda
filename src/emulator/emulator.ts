import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchObject } from './batch-object';
import { createClock } from './clock';
import type { EmulatorContext } from './context';
import { Faults, type FaultConfig } from './faults';
import { settle, stateAt, type BatchState } from './lifecycle';
import { resolveOptions, type EmulatorOptions } from './options';
import { PROFILES } from './profiles';
import { buildServer } from './server';
import { StateDir, resumedNow } from './persist';
import { BatchStore, FileStore } from './store';
import type { BatchRec, CallLogEntry, FileRec, ProfileName } from './types';
import { attachTokenLimit, startValidation } from './validate-batch';
import { WebhookSender, type WebhookDelivery } from './webhooks';

export interface BatchPeek {
  record: Readonly<BatchRec>;
  /** State at the current clock, without waiting for pending work. */
  state: BatchState;
  /** What GET /batches/:id would show if nothing were pending. */
  object: Record<string, unknown>;
}

export interface EmulatorHandle {
  /** Base URL for the openai SDK, e.g. http://127.0.0.1:PORT/v1. */
  url: string;
  /** DashScope-style base URL, .../compatible-mode/v1 (same handlers). */
  compatibleUrl: string;
  /** Admin base URL, .../admin. */
  adminUrl: string;
  port: number;
  apiKey: string;
  profile: ProfileName;
  /** Moves the clock forward and settles every batch (validation and result files included). */
  advance(seconds: number): Promise<void>;
  /** Emulator time, unix seconds. */
  now(): number;
  setFaults(f: FaultConfig): void;
  faults(): FaultConfig;
  calls(): CallLogEntry[];
  clearCalls(): void;
  batch(id: string): BatchPeek | undefined;
  /** A peek at every batch, newest first: what the provider holds, whoever created it. */
  batches(): BatchPeek[];
  /** Every file ever uploaded or written, deleted ones included (`deletedAt`), oldest first, with its sha256. */
  files(): FileRec[];
  /** Every webhook delivery attempt so far (empty without webhook URLs). */
  webhookDeliveries(): WebhookDelivery[];
  /** Resolves once every webhook due by now has been delivered or given up. */
  webhooksIdle(): Promise<void>;
  close(): Promise<void>;
}

export async function startEmulator(options?: EmulatorOptions): Promise<EmulatorHandle> {
  const opts = resolveOptions(options);
  const ownDir = opts.dataDir === undefined;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'batchkeeper-emulator-')));
  if (!ownDir) await mkdir(dir, { recursive: true });
  // A dataDir of the caller's keeps the state too, so an emulator started on it again resumes (a restart).
  const state = ownDir ? undefined : new StateDir(dir);
  await state?.init();
  const stored = await state?.loadClock();
  const clock = createClock(opts.clock, opts.speed, stored ? resumedNow(stored) : opts.startTime);
  const saveClock = () =>
    state?.saveClock({ now: clock.now(), wallMs: Date.now(), kind: clock.kind, speed: opts.speed });
  await saveClock();
  const files = new FileStore(dir, state);
  const batches = new BatchStore(state);
  if (state) {
    files.restore(await state.loadFiles((id) => files.pathFor(id)));
    for (const rec of await state.loadBatches((id) => files.pathFor(id))) {
      if (!rec.validated) rec.validation = startValidation(rec, opts, batches);
      else attachTokenLimit(rec, opts, batches);
      batches.add(rec);
    }
  }
  const ctx: EmulatorContext = {
    opts,
    profile: PROFILES[opts.profile],
    clock,
    files,
    batches,
    faults: new Faults(opts.faults),
    calls: [],
    async advance(seconds) {
      clock.advance(seconds);
      await saveClock();
      for (const rec of batches.all()) await settle(rec, clock, files, batches);
      await ctx.webhooks?.scan();
    },
  };
  if (opts.webhooks) ctx.webhooks = new WebhookSender(opts.webhooks, ctx);
  const app = await buildServer(ctx);
  try {
    await app.listen({ port: opts.port, host: opts.host });
  } catch (e) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  ctx.webhooks?.start();
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closed: Promise<void> | undefined;
  const peek = (record: BatchRec): BatchPeek => {
    const state = stateAt(record, clock.now());
    return { record, state, object: batchObject(record, state, ctx.profile) };
  };
  return {
    url: `${origin}/v1`,
    compatibleUrl: `${origin}/compatible-mode/v1`,
    adminUrl: `${origin}/admin`,
    port,
    apiKey: opts.apiKey,
    profile: opts.profile,
    advance: (s) => ctx.advance(s),
    now: () => clock.now(),
    setFaults: (f) => ctx.faults.set(f),
    faults: () => ctx.faults.get(),
    calls: () => ctx.calls.map((c) => ({ ...c })),
    clearCalls: () => {
      ctx.calls.length = 0;
    },
    batch(id) {
      const record = batches.get(id);
      return record ? peek(record) : undefined;
    },
    batches: () => batches.list().map(peek),
    files: () => files.history().map((f) => ({ ...f })),
    webhookDeliveries: () => ctx.webhooks?.deliveries() ?? [],
    webhooksIdle: async () => ctx.webhooks?.idle(),
    close() {
      closed ??= (async () => {
        await ctx.webhooks?.close();
        await app.close();
        // Let background validation/result writing finish before their directory goes away.
        await Promise.allSettled(
          [...batches.all()].flatMap((b) => [b.validation, b.job ?? Promise.resolve()]),
        );
        if (ownDir) await rm(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
