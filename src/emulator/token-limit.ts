// The provider's enqueued-token limit per model (OpenAI: "Enqueued token limit reached for <model> in organization
// ..."): a batch whose input tokens, added to those of the same model's batches still in flight when its
// validation ends, pass the limit fails at validation with `token_limit_exceeded`. Decided once per batch, in
// the order validations end, so the answer does not depend on which request looked first.
import { requestTokens, tokenMethod } from '../../activities/tokens/estimate';
import type { ProfileName } from './types';
import type { BatchError, BatchRec, ValidInput } from './types';

/** Tokens per model, or one number for every model. */
export type EnqueuedTokenLimit = number | Record<string, number>;

export function limitFor(limit: EnqueuedTokenLimit | undefined, model: string | null): number | undefined {
  if (limit === undefined || model === null) return undefined;
  return typeof limit === 'number' ? limit : limit[model];
}

/** A request's input tokens as the provider counts them: OpenAI's tokenizer on the openai profile. */
export function tokenCounter(
  profile: ProfileName,
): (endpoint: string, body: unknown, model: string) => number {
  return (endpoint, body, model) =>
    requestTokens(tokenMethod(profile === 'openai' ? 'openai' : 'dashscope', model), endpoint, body);
}

const validatedAt = (r: BatchRec) => r.createdAt + r.timing.validatingSeconds;

/** When a batch stops holding enqueued tokens: its terminal status, as known now. */
function endsAt(r: BatchRec, input: ValidInput): number {
  if (r.final) return r.final.at;
  if (r.internalError) return r.internalError.at;
  const natural = Math.min(
    validatedAt(r) + input.total * r.timing.requestSeconds + r.timing.finalizingSeconds,
    r.expiresAt,
  );
  if (r.cancelRequestedAt !== undefined)
    return Math.min(natural, r.cancelRequestedAt + r.timing.cancellingSeconds);
  return natural;
}

/** Whether `rec` waits for an admission decision before it may leave `validating`. */
export function needsAdmission(rec: BatchRec, v: ValidInput): boolean {
  return rec.admission === undefined && limitFor(rec.tokenLimit, v.model) !== undefined;
}

/** Decides every undecided batch whose validation ended no later than `rec`'s, oldest first. */
export async function admitInOrder(rec: BatchRec, all: Iterable<BatchRec>): Promise<void> {
  const batches = [...all];
  const due = batches
    .filter((r) => r.admission === undefined && validatedAt(r) <= validatedAt(rec))
    .sort((a, b) => validatedAt(a) - validatedAt(b) || a.seq - b.seq);
  for (const r of due) {
    const v = await r.validation;
    if (r.admission !== undefined) continue;
    const limit = v.ok ? limitFor(r.tokenLimit, v.model) : undefined;
    if (!v.ok || limit === undefined) {
      r.admission = { ok: true };
      continue;
    }
    const t = validatedAt(r);
    let enqueued = 0;
    for (const o of batches) {
      const ov = o.validated;
      if (o === r || !o.admission?.ok || !ov?.ok || ov.model !== v.model) continue;
      if (validatedAt(o) <= t && endsAt(o, ov) > t) enqueued += ov.enqueuedTokens;
    }
    r.admission =
      enqueued + v.enqueuedTokens <= limit
        ? { ok: true }
        : { ok: false, errors: [limitError(v.model, limit)] };
  }
}

/** OpenAI's wording, with the emulator's organisation. */
export function limitError(model: string | null, limit: number): BatchError {
  return {
    code: 'token_limit_exceeded',
    message:
      `Enqueued token limit reached for ${model ?? 'unknown'} in organization org-emulator. ` +
      `Limit: ${limit.toLocaleString('en-US')} enqueued tokens. Please try submitting your batch again later.`,
    param: null,
    line: null,
  };
}
