import type { Batch } from 'openai/resources/batches';
import { toSnapshot, UnknownBatchStatusError } from '../../activities/normalize';
import { computeBilling } from '../../workflows/billing';
import { progressLine } from '../../workflows/presentation';

const base = {
  id: 'batch_1',
  object: 'batch',
  endpoint: '/v1/chat/completions',
  input_file_id: 'file-in',
  completion_window: '24h',
  created_at: 1700000000,
} as const;

describe('toSnapshot', () => {
  test('DashScope: 0 timestamps and empty file ids are unset, no usage', () => {
    const s = toSnapshot({
      ...base,
      status: 'cancelled',
      in_progress_at: 1700000100,
      cancelling_at: 1700000200,
      cancelled_at: 1700000300,
      completed_at: 0,
      failed_at: 0,
      expires_at: 1700086400,
      output_file_id: 'file-out',
      error_file_id: '',
      request_counts: { total: 100, completed: 40, failed: 2 },
      metadata: { ds_name: 'nightly', n: 3 },
    } as unknown as Batch);
    expect(s.timestamps).toMatchObject({ completedAt: null, failedAt: null, cancelledAt: 1700000300 });
    expect(s.errorFileId).toBeNull();
    expect(s.usage).toBeNull();
    expect(s.metadata).toEqual({ ds_name: 'nightly' });
  });

  test('OpenAI: null timestamps unset, usage and errors carried', () => {
    const s = toSnapshot({
      ...base,
      status: 'failed',
      failed_at: 1700000010,
      completed_at: null,
      request_counts: undefined,
      errors: { object: 'list', data: [{ code: 'token_limit_exceeded', message: 'queue full', line: null }] },
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 2 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 1 },
        total_tokens: 15,
      },
    } as unknown as Batch);
    expect(s.requestCounts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(s.errors).toEqual([
      { code: 'token_limit_exceeded', message: 'queue full', param: null, line: null },
    ]);
    expect(s.usage).toEqual({
      inputTokens: 10,
      cachedTokens: 2,
      outputTokens: 5,
      reasoningTokens: 1,
      totalTokens: 15,
    });
  });

  test('an unknown status is refused rather than guessed', () => {
    expect(() => toSnapshot({ ...base, status: 'paused' } as unknown as Batch)).toThrow(
      UnknownBatchStatusError,
    );
  });
});

describe('computeBilling and progress', () => {
  test('billed = completed; not run = the rest', () => {
    const s = toSnapshot({
      ...base,
      status: 'expired',
      request_counts: { total: 100, completed: 60, failed: 5 },
    } as unknown as Batch);
    expect(computeBilling(s)).toEqual({
      total: 100,
      completed: 60,
      billed: 60,
      failed: 5,
      notRun: 35,
      tokens: null,
    });
    expect(progressLine(s)).toBe('expired: 65 of 100 done (65%), 5 failed');
  });
});
