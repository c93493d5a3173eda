// A scripted provider for workflow tests: a batch whose state is a function of the (skipped) server time,
// served through the real activities (real normalization, real error classification, real cancel logic).
import type OpenAI from 'openai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIError } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { createActivities, type OutcomeSink } from '../../activities';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import type { RecordOutcomeInput, WorkerActivities } from '../../workflows/shared/activity-types';

/** The key the fake provider accepts; any other key gets a 401 like OpenAI's. */
export const FAKE_VALID_KEY = 'sk-fake-test-key';

export interface FakeActivitiesOptions {
  /** The key in the worker's environment; null = the env var is unset. Default: the valid key. */
  key?: string | null;
  /** Where outcomes go besides `recorded` (e.g. a real ledger). */
  outcomes?: OutcomeSink;
  /** The profile receives the provider's webhooks (names a signing-secret env var). */
  pushed?: boolean;
}

export interface BatchPlan {
  id: string;
  total: number;
  profile?: 'openai' | 'dashscope';
  /** Unix seconds the batch was created; defaults to the time of the first call. */
  createdAt?: number;
  validatingSeconds?: number;
  /** Time from in_progress until every request is done. */
  runSeconds: number;
  finalizingSeconds?: number;
  cancellingSeconds?: number;
  windowSeconds?: number;
  /** Share of requests that fail. */
  failRatio?: number;
  /** The batch fails validation with these errors instead of running. */
  validationErrors?: { code: string; message: string; line: number }[];
  usage?: boolean;
}

export interface ProviderCall {
  op: 'retrieve' | 'cancel';
  at: number;
  status?: number;
}

type Fault = { op: 'retrieve' | 'cancel'; status: number; message: string; headers?: Record<string, string> };

export class FakeProvider {
  readonly calls: ProviderCall[] = [];
  readonly recorded: RecordOutcomeInput[] = [];
  cancelRequestedAt: number | null = null;
  private createdAt: number | null;
  private faults: Fault[] = [];
  readonly deletedFiles: string[] = [];
  /** Where the real download activity stores this fake's result files. */
  readonly resultsDir = mkdtempSync(join(tmpdir(), 'bk-fake-results-'));
  /** Resolved when an outcome is recorded; a test may hold recording open to act meanwhile. */
  recordGate: Promise<void> | null = null;
  /** Rewrites the batch object as a provider with its own quirks would send it. */
  rewrite: ((batch: Batch) => Batch) | null = null;

  /**
   * @param clock server time in ms; pass the test environment's `currentTimeMs` (the activity's scheduled
   *   time is not the time of a retried attempt on the test server).
   */
  constructor(
    readonly plan: BatchPlan,
    private readonly clock: () => Promise<number>,
  ) {
    this.createdAt = plan.createdAt ?? null;
  }

  /** The next calls of `op` fail with this HTTP status, in order. */
  failNext(op: Fault['op'], status: number, times = 1, headers?: Record<string, string>): void {
    for (let i = 0; i < times; i++) this.faults.push({ op, status, message: `scripted ${status}`, headers });
  }

  count(op: ProviderCall['op']): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  activities(
    profileName = 'fake',
    apiKeyEnv = 'FAKE_PROVIDER_KEY',
    options: FakeActivitiesOptions = {},
  ): WorkerActivities {
    const profile: ProviderProfile = {
      name: profileName,
      baseURL: 'http://fake.invalid/v1',
      apiKeyEnv,
      kind: 'generic',
      ...(options.pushed ? { webhookSecretEnv: 'FAKE_WEBHOOK_SECRET' } : {}),
    };
    const client = this.client();
    const refused = async (op: ProviderCall['op']): Promise<never> => {
      this.calls.push({ op, at: await this.now(), status: 401 });
      throw APIError.generate(
        401,
        { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error' } },
        undefined,
        new Headers(),
      );
    };
    const refusing = {
      batches: { retrieve: () => refused('retrieve'), cancel: () => refused('cancel') },
      files: client.files,
    };
    const key = options.key === undefined ? FAKE_VALID_KEY : options.key;
    const registry = new ProviderRegistry(
      [profile],
      key === null ? {} : { [apiKeyEnv]: key },
      (_p, apiKey) =>
        apiKey === FAKE_VALID_KEY ? (client as unknown as OpenAI) : (refusing as unknown as OpenAI),
    );
    return createActivities({
      providers: registry,
      resultsDir: this.resultsDir,
      stagingDir: this.resultsDir,
      outcomes: {
        record: async (input) => {
          await options.outcomes?.record(input);
          this.recorded.push(input);
          if (this.recordGate) await this.recordGate;
        },
      },
    });
  }

  /** The part of the `openai` client this fake serves; a fleet of fakes routes to it by batch id. */
  client() {
    return {
      batches: { retrieve: (id: string) => this.retrieve(id), cancel: (id: string) => this.cancel(id) },
      files: { content: (id: string) => this.content(id), delete: (id: string) => this.deleteFile(id) },
    };
  }

  private async now(): Promise<number> {
    return Math.floor((await this.clock()) / 1000);
  }

  private async retrieve(id: string): Promise<Batch> {
    const at = await this.now();
    this.checkFault('retrieve', at, id);
    this.calls.push({ op: 'retrieve', at });
    const batch = this.stateAt(at);
    return this.rewrite ? this.rewrite(batch) : batch;
  }

  private async cancel(id: string): Promise<Batch> {
    const at = await this.now();
    this.checkFault('cancel', at, id);
    const current = this.stateAt(at);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(current.status)) {
      this.calls.push({ op: 'cancel', at, status: 400 });
      throw APIError.generate(
        400,
        {
          error: {
            message: `Cannot cancel a batch with status '${current.status}'.`,
            type: 'invalid_request_error',
          },
        },
        undefined,
        new Headers(),
      );
    }
    this.calls.push({ op: 'cancel', at, status: 200 });
    if (this.cancelRequestedAt === null) this.cancelRequestedAt = at;
    return this.stateAt(at);
  }

  /** Result files as the provider writes them: one line per completed, failed and (after cancel/expiry) unrun request. */
  private async content(id: string): Promise<Response> {
    const batch = this.stateAt(await this.now());
    const { completed, failed, total } = batch.request_counts as {
      completed: number;
      failed: number;
      total: number;
    };
    const lines: string[] = [];
    const ok = (i: number) => ({
      id: `resp-${i}`,
      custom_id: `req-${i}`,
      response: {
        status_code: 200,
        request_id: `rq-${i}`,
        body: { usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 } },
      },
      error: null,
    });
    if (id === 'file-out') {
      for (let i = 0; i < completed; i++) lines.push(JSON.stringify(ok(i)));
    } else if (id === 'file-err') {
      for (let i = completed; i < completed + failed; i++) {
        lines.push(
          JSON.stringify({
            id: `resp-${i}`,
            custom_id: `req-${i}`,
            response: { status_code: 500, request_id: `rq-${i}`, body: { error: { message: 'boom' } } },
            error: { code: 'server_error', message: 'boom' },
          }),
        );
      }
      const code =
        batch.status === 'expired'
          ? 'batch_expired'
          : batch.status === 'cancelled'
            ? 'batch_cancelled'
            : null;
      if (code) {
        for (let i = completed + failed; i < total; i++) {
          lines.push(
            JSON.stringify({
              id: `resp-${i}`,
              custom_id: `req-${i}`,
              response: null,
              error: { code, message: code },
            }),
          );
        }
      }
    } else {
      throw APIError.generate(404, { error: { message: `No such file ${id}` } }, undefined, new Headers());
    }
    return new Response(lines.map((l) => l + '\n').join(''));
  }

  private async deleteFile(id: string): Promise<{ id: string; deleted: boolean }> {
    this.deletedFiles.push(id);
    return { id, deleted: true };
  }

  private checkFault(op: Fault['op'], at: number, id: string): void {
    if (id !== this.plan.id) {
      this.calls.push({ op, at, status: 404 });
      throw APIError.generate(
        404,
        {
          error: {
            message: `No batch found with id '${id}'.`,
            type: 'invalid_request_error',
            code: 'not_found',
          },
        },
        undefined,
        new Headers(),
      );
    }
    const i = this.faults.findIndex((f) => f.op === op);
    if (i < 0) return;
    const [fault] = this.faults.splice(i, 1);
    this.calls.push({ op, at, status: fault.status });
    throw APIError.generate(
      fault.status,
      { error: { message: fault.message, type: 'scripted' } },
      undefined,
      new Headers(fault.headers ?? {}),
    );
  }

  /** Requests done (completed + failed) at time t, linear over the run. */
  private doneAt(t: number, runStart: number): number {
    const p = this.plan;
    if (t <= runStart) return 0;
    return Math.min(p.total, Math.floor((p.total * (t - runStart)) / p.runSeconds));
  }

  stateAt(t: number): Batch {
    const p = this.plan;
    if (this.createdAt === null) this.createdAt = t;
    const created = this.createdAt;
    const unset = p.profile === 'dashscope' ? 0 : null;
    const validating = p.validatingSeconds ?? 60;
    const finalizing = p.finalizingSeconds ?? 120;
    const cancelling = p.cancellingSeconds ?? 60;
    const window = p.windowSeconds ?? 86_400;
    const runStart = created + validating;
    const runEnd = runStart + p.runSeconds;
    const expiresAt = created + window;
    const failRatio = p.failRatio ?? 0;

    const base: Record<string, unknown> = {
      id: p.id,
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: 'file-input',
      completion_window: `${Math.round(window / 3600)}h`,
      created_at: created,
      expires_at: expiresAt,
      in_progress_at: unset,
      finalizing_at: unset,
      completed_at: unset,
      failed_at: unset,
      expired_at: unset,
      cancelling_at: unset,
      cancelled_at: unset,
      output_file_id: null,
      error_file_id: null,
      errors: null,
      metadata: p.profile === 'dashscope' ? { ds_name: 'test' } : {},
    };
    const counts = (done: number, total = p.total) => {
      const failed = Math.floor(done * failRatio);
      return { total, completed: done - failed, failed };
    };
    const withUsage = (done: number) =>
      p.usage === false || p.profile === 'dashscope'
        ? {}
        : {
            usage: {
              input_tokens: done * 50,
              input_tokens_details: { cached_tokens: 0 },
              output_tokens: done * 20,
              output_tokens_details: { reasoning_tokens: 0 },
              total_tokens: done * 70,
            },
          };
    // After cancel or expiry the error file also lists the requests that never ran.
    const files = (done: number, partial = false) => {
      const c = counts(done);
      const hasErrors = c.failed > 0 || (partial && done < p.total);
      return {
        output_file_id: c.completed > 0 ? 'file-out' : null,
        error_file_id: hasErrors ? 'file-err' : null,
      };
    };

    if (p.validationErrors && t >= runStart) {
      return {
        ...base,
        status: 'failed',
        failed_at: runStart,
        request_counts: { total: 0, completed: 0, failed: 0 },
        errors: { object: 'list', data: p.validationErrors.map((e) => ({ ...e, param: null })) },
      } as unknown as Batch;
    }

    const cancelAt = this.cancelRequestedAt;
    if (cancelAt !== null && cancelAt < runEnd + finalizing) {
      const frozenAt = Math.min(cancelAt + cancelling, expiresAt);
      const done = this.doneAt(Math.min(t, frozenAt), runStart);
      const common = {
        ...base,
        in_progress_at: cancelAt > runStart ? runStart : unset,
        cancelling_at: cancelAt,
        request_counts: counts(done),
      };
      if (t < cancelAt + cancelling)
        return { ...common, status: 'cancelling', ...withUsage(done) } as unknown as Batch;
      return {
        ...common,
        status: 'cancelled',
        cancelled_at: cancelAt + cancelling,
        ...files(done, true),
        ...withUsage(done),
      } as unknown as Batch;
    }

    if (t < runStart)
      return { ...base, status: 'validating', request_counts: counts(0, 0) } as unknown as Batch;
    if (runEnd > expiresAt && t >= expiresAt) {
      const done = this.doneAt(expiresAt, runStart);
      return {
        ...base,
        status: 'expired',
        in_progress_at: runStart,
        expired_at: expiresAt,
        request_counts: counts(done),
        ...files(done, true),
        ...withUsage(done),
      } as unknown as Batch;
    }
    if (t < runEnd) {
      const done = this.doneAt(t, runStart);
      return {
        ...base,
        status: 'in_progress',
        in_progress_at: runStart,
        request_counts: counts(done),
        ...withUsage(done),
      } as unknown as Batch;
    }
    if (t < runEnd + finalizing) {
      return {
        ...base,
        status: 'finalizing',
        in_progress_at: runStart,
        finalizing_at: runEnd,
        request_counts: counts(p.total),
        ...withUsage(p.total),
      } as unknown as Batch;
    }
    return {
      ...base,
      status: 'completed',
      in_progress_at: runStart,
      finalizing_at: runEnd,
      completed_at: runEnd + finalizing,
      request_counts: counts(p.total),
      ...files(p.total),
      ...withUsage(p.total),
    } as unknown as Batch;
  }
}
