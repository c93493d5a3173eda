import type { Batch } from 'openai/resources/batches';
import { toSnapshot } from '../../activities/normalize';
import { computeBilling } from '../../workflows/shared/billing';
import { progressLine } from '../../workflows/shared/presentation';

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

  test('an unknown status is an anomaly read from the timestamps, never a failure that retries forever', () => {
    const running = toSnapshot({
      ...base,
      status: 'paused',
      in_progress_at: 1700000100,
      request_counts: { total: 10, completed: 2, failed: 0 },
    } as unknown as Batch);
    expect(running.status).toBe('in_progress');
    expect(running.anomalies).toEqual([`unknown status "paused": read as 'in_progress' from the timestamps`]);
    const ended = toSnapshot({
      ...base,
      status: 'succeeded',
      in_progress_at: 1700000100,
      completed_at: 1700000900,
      request_counts: { total: 10, completed: 10, failed: 0 },
    } as unknown as Batch);
    expect(ended.status).toBe('completed');
    expect(ended.anomalies?.[0]).toMatch(/unknown status "succeeded"/);
  });

  test('missing, non-numeric and inconsistent request_counts and malformed errors are anomalies', () => {
    const missing = toSnapshot({
      ...base,
      status: 'completed',
      in_progress_at: 1700000100,
    } as unknown as Batch);
    expect(missing.requestCounts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(missing.anomalies).toEqual(['request_counts missing']);
    const odd = toSnapshot({
      ...base,
      status: 'completed',
      request_counts: { total: 5, completed: 'seven', failed: null },
      errors: { data: [null, 'x', { code: 42, message: 'kept', line: 'n/a' }] },
    } as unknown as Batch);
    expect(odd.requestCounts).toEqual({ total: 5, completed: 0, failed: 0 });
    expect(odd.anomalies).toEqual([
      'request_counts.completed is not a count: "seven"',
      'request_counts.failed missing',
      'errors: 2 malformed item(s) left out',
    ]);
    expect(odd.errors).toEqual([{ code: '42', message: 'kept', param: null, line: null }]);
    const over = toSnapshot({
      ...base,
      status: 'completed',
      request_counts: { total: 10, completed: 9, failed: 3 },
      errors: { data: 'oops' },
    } as unknown as Batch);
    expect(over.anomalies).toEqual([
      'request_counts inconsistent: completed 9 + failed 3 > total 10',
      'errors.data is not a list',
    ]);
  });

  test('a well-formed answer has no anomalies field, and the model when the provider names one', () => {
    const s = toSnapshot({
      ...base,
      status: 'in_progress',
      model: 'gpt-4o-mini',
      request_counts: { total: 10, completed: 2, failed: 0 },
    } as unknown as Batch);
    expect(s.anomalies).toBeUndefined();
    expect(s.model).toBe('gpt-4o-mini');
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
