import type { BatchState } from './lifecycle';
import type { Profile } from './profiles';
import type { BatchRec } from './types';

/** The batch as the provider would serialize it: OpenAI shows unset timestamps as null, DashScope as 0. */
export function batchObject(rec: BatchRec, s: BatchState, profile: Profile): Record<string, unknown> {
  const ts = (x: number | undefined): number | null =>
    x === undefined ? profile.unsetTimestamp : Math.floor(x);
  const input = s.input;
  const failed = input ? input.cumFailed[s.ran] : 0;
  const obj: Record<string, unknown> = {
    id: rec.id,
    object: 'batch',
    endpoint: rec.endpoint,
    model: input?.model ?? null,
    errors: s.errors ? { object: 'list', data: s.errors } : null,
    input_file_id: rec.inputFileId,
    completion_window: rec.completionWindow,
    status: s.status,
    output_file_id: s.outputFileId ?? null,
    error_file_id: s.errorFileId ?? null,
    created_at: Math.floor(rec.createdAt),
    in_progress_at: ts(s.inProgressAt),
    expires_at: Math.floor(rec.expiresAt),
    finalizing_at: ts(s.finalizingAt),
    completed_at: ts(s.completedAt),
    failed_at: ts(s.failedAt),
    expired_at: ts(s.expiredAt),
    cancelling_at: ts(s.cancellingAt),
    cancelled_at: ts(s.cancelledAt),
    request_counts: { total: input?.total ?? 0, completed: s.ran - failed, failed },
    metadata: rec.metadata,
  };
  if (profile.batchUsage) {
    // Only requests that succeeded are billed, so only they count.
    const inTok = input ? input.cumIn[s.ran] : 0;
    const outTok = input ? input.cumOut[s.ran] : 0;
    obj.usage = {
      input_tokens: inTok,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outTok,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inTok + outTok,
    };
  }
  return obj;
}
