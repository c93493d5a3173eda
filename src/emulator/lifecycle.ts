import type { Clock } from './clock';
import type { BatchStore, FileStore } from './store';
import { needsAdmission } from './token-limit';
import type { BatchError, BatchRec, BatchStatus, FinalRecord, ValidInput } from './types';
import { writeResults } from './write-results';

/** The batch as of one instant, derived from its record and the clock; nothing here is stored. */
export interface BatchState {
  status: BatchStatus;
  inProgressAt?: number;
  finalizingAt?: number;
  completedAt?: number;
  failedAt?: number;
  expiredAt?: number;
  cancellingAt?: number;
  cancelledAt?: number;
  /** Requests that have run (succeeded or failed), in input order. */
  ran: number;
  input?: ValidInput;
  errors?: BatchError[];
  outputFileId?: string | null;
  errorFileId?: string | null;
  /** Work that must finish before this state may be reported. */
  need?: 'validation' | { status: 'completed' | 'expired' | 'cancelled'; at: number; ran: number };
}

/** Requests finished by time t: they run one after another from in_progress_at, one per requestSeconds. */
export function ranBy(rec: BatchRec, input: ValidInput, inProgressAt: number, t: number): number {
  const per = rec.timing.requestSeconds;
  if (t < inProgressAt) return 0;
  if (per <= 0) return input.total;
  return Math.max(0, Math.min(input.total, Math.floor((t - inProgressAt) / per + 1e-9)));
}

export function stateAt(rec: BatchRec, t: number): BatchState {
  const T = rec.timing;
  const v = rec.validated;
  const validatedAt = rec.createdAt + T.validatingSeconds;
  const input = v?.ok ? v : undefined;
  const per = T.requestSeconds;
  const finishedRequestsAt = input ? validatedAt + input.total * per : Infinity;
  const progress = (s: BatchState): BatchState => {
    if (input && validatedAt <= (s.cancellingAt ?? t)) s.inProgressAt = validatedAt;
    if (input && finishedRequestsAt <= (s.cancellingAt ?? t) && !s.expiredAt)
      s.finalizingAt = finishedRequestsAt;
    s.input = input;
    return s;
  };

  if (rec.internalError) {
    const { message, at } = rec.internalError;
    return {
      status: 'failed',
      failedAt: at,
      ran: 0,
      errors: [{ code: 'server_error', message, param: null, line: null }],
    };
  }

  const f = rec.final;
  if (f) {
    const s: BatchState = {
      status: f.status,
      ran: f.ran,
      outputFileId: f.outputFileId,
      errorFileId: f.errorFileId,
    };
    if (f.status === 'completed') s.completedAt = f.at;
    if (f.status === 'expired') s.expiredAt = f.at;
    if (f.status === 'cancelled') {
      s.cancellingAt = rec.cancelRequestedAt;
      s.cancelledAt = f.at;
    }
    return progress(s);
  }

  const C = rec.cancelRequestedAt;
  if (C !== undefined) {
    // The request that was running when cancel arrived still finishes ("in-flight requests complete").
    const ranAtCancel =
      input && C >= validatedAt
        ? Math.min(input.total, ranBy(rec, input, validatedAt, C) + (per > 0 ? 1 : 0))
        : 0;
    const due = C + T.cancellingSeconds;
    const ran = input ? Math.min(ranAtCancel, ranBy(rec, input, validatedAt, Math.max(t, C))) : 0;
    const s = progress({ status: 'cancelling', cancellingAt: C, ran });
    if (t >= due) s.need = { status: 'cancelled', at: due, ran: ranAtCancel };
    return s;
  }

  if (t < validatedAt) return { status: 'validating', ran: 0 };
  if (!v) return { status: 'validating', ran: 0, need: 'validation' };
  if (!v.ok) return { status: 'failed', failedAt: validatedAt, ran: 0, errors: v.errors };
  if (needsAdmission(rec, v)) return { status: 'validating', ran: 0, need: 'validation' };
  if (rec.admission?.ok === false)
    return { status: 'failed', failedAt: validatedAt, ran: 0, errors: rec.admission.errors };

  const inputOk = v;
  if (finishedRequestsAt > rec.expiresAt && t >= rec.expiresAt) {
    const ran = ranBy(rec, inputOk, validatedAt, rec.expiresAt);
    return progress({ status: 'in_progress', ran, need: { status: 'expired', at: rec.expiresAt, ran } });
  }
  if (t < finishedRequestsAt)
    return progress({ status: 'in_progress', ran: ranBy(rec, inputOk, validatedAt, t) });
  const due = finishedRequestsAt + T.finalizingSeconds;
  const s = progress({ status: 'finalizing', ran: inputOk.total });
  if (t >= due) s.need = { status: 'completed', at: due, ran: inputOk.total };
  return s;
}

/**
 * Brings a batch up to the clock: waits for validation or writes the result files when the clock says
 * they are due. Every handler settles before it answers, so a reply never shows a state that later work
 * would contradict, and the manual clock stays fully deterministic.
 */
export async function settle(
  rec: BatchRec,
  clock: Clock,
  files: FileStore,
  batches?: BatchStore,
): Promise<BatchState> {
  for (;;) {
    const s = stateAt(rec, clock.now());
    if (s.need === undefined) return s;
    if (s.need === 'validation') {
      const v = await rec.validation;
      if (v.ok && needsAdmission(rec, v)) await (rec.admit as () => Promise<void>)();
      continue;
    }
    await ensureFinalJob(rec, files, s.need, batches);
  }
}

function ensureFinalJob(
  rec: BatchRec,
  files: FileStore,
  need: { status: 'completed' | 'expired' | 'cancelled'; at: number; ran: number },
  batches: BatchStore | undefined,
): Promise<void> {
  // Recorded (state dir) before it is shown: a restarted emulator never names other result files than it served.
  const finish = async (final: FinalRecord) => {
    await batches?.save(rec, { final });
    rec.final = final;
  };
  rec.job ??= (async () => {
    try {
      const v = await rec.validation;
      if (!v.ok) {
        // Cancelled while validating a file that turned out invalid: nothing ran, nothing to write.
        await finish({ status: need.status, at: need.at, ran: 0, outputFileId: null, errorFileId: null });
        return;
      }
      const ids = await writeResults({
        rec,
        files,
        ran: need.ran,
        restCode: need.status === 'expired' ? 'batch_expired' : 'batch_cancelled',
        restMessage:
          need.status === 'expired'
            ? 'This request could not be executed before the completion window expired.'
            : 'This request was not executed because the batch was cancelled.',
        finishedAt: (i) => rec.createdAt + rec.timing.validatingSeconds + (i + 1) * rec.timing.requestSeconds,
        createdAt: need.at,
      });
      await finish({ status: need.status, at: need.at, ran: need.ran, ...ids });
    } catch (e) {
      rec.internalError = {
        message: `Writing the batch results failed: ${(e as Error).message}`,
        at: need.at,
      };
      await batches?.save(rec).catch(() => undefined);
    }
  })();
  return rec.job;
}
