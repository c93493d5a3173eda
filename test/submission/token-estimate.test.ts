// Token estimates: the counting rules per endpoint, and what validation puts in the submission for a budget.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import { validateSubmission } from '../../activities/submission/validate';
import { requestTokens, tokenMethod } from '../../activities/tokens/estimate';

describe('requestTokens', () => {
  const o200k = 'tiktoken:o200k_base' as const;
  test('chat: text of every message plus 3 a message and 3 for the reply; text parts count, images not', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const body = {
      messages: [
        { role: 'system', content: text },
        {
          role: 'user',
          content: [
            { type: 'text', text },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
      ],
    };
    expect(requestTokens(o200k, '/v1/chat/completions', body)).toBe(2 * countTokens(text) + 2 * 3 + 3);
  });
  test('embeddings: a text, texts, or token arrays (their length)', () => {
    expect(requestTokens(o200k, '/v1/embeddings', { input: 'hello world' })).toBe(countTokens('hello world'));
    expect(requestTokens(o200k, '/v1/embeddings', { input: ['hello', 'world'] })).toBe(2);
    expect(requestTokens(o200k, '/v1/embeddings', { input: [[1, 2, 3], [4]] })).toBe(4);
  });
  test('responses: input text and instructions', () => {
    expect(requestTokens(o200k, '/v1/responses', { input: 'hello world', instructions: 'be brief' })).toBe(
      countTokens('hello world') + countTokens('be brief'),
    );
  });
  test('text that looks like a special token is counted, not refused', () => {
    expect(
      requestTokens(o200k, '/v1/chat/completions', {
        messages: [{ role: 'user', content: '<|endoftext|>' }],
      }),
    ).toBeGreaterThan(6);
  });
  test('other providers: half the UTF-8 bytes, rounded up (CJK at 3 bytes a character counts more)', () => {
    const m = 'utf8-bytes/2' as const;
    expect(requestTokens(m, '/v1/embeddings', { input: 'abcde' })).toBe(3);
    expect(requestTokens(m, '/v1/embeddings', { input: '你好' })).toBe(3);
  });
  test('methods by provider kind and model', () => {
    expect(tokenMethod('openai', 'gpt-4o-mini')).toBe('tiktoken:o200k_base');
    expect(tokenMethod('openai', 'gpt-4.1')).toBe('tiktoken:o200k_base');
    expect(tokenMethod('openai', 'gpt-4-turbo')).toBe('tiktoken:cl100k_base');
    expect(tokenMethod('openai', 'text-embedding-3-small')).toBe('tiktoken:cl100k_base');
    expect(tokenMethod('dashscope', 'qwen-plus')).toBe('utf8-bytes/2');
    expect(tokenMethod('generic', 'gpt-4o-mini')).toBe('utf8-bytes/2');
  });
});

describe('validation with a token budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-estimate-'));
  const line = (i: number, model = 'qwen-plus') =>
    JSON.stringify({
      custom_id: `c${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: 'abcd' }] },
    });
  const file = (name: string, n: number, model?: string) => {
    const path = join(dir, name);
    writeFileSync(path, Array.from({ length: n }, (_, i) => line(i, model)).join('\n') + '\n');
    return path;
  };
  const registry = (budgets?: ProviderProfile['tokenBudgets']) =>
    new ProviderRegistry(
      [
        {
          name: 'ds',
          baseURL: 'http://127.0.0.1:9/v1',
          apiKeyEnv: 'K',
          kind: 'dashscope',
          tokenBudgets: budgets,
        },
      ],
      { K: 'k' },
    );
  const validate = (providers: ProviderRegistry, path: string, maxLines: number) =>
    validateSubmission(
      { providers, stagingDir: join(dir, 'staging') },
      {
        provider: 'ds',
        submissionId: `s-${path.split('/').pop()}`,
        source: { path },
        endpoint: '/v1/chat/completions',
        limits: { maxLines },
      },
    );
  // 'abcd' = 4 bytes -> 2 tokens, + 3 for the message, + 3 for the reply.
  const PER_LINE = 2 + 3 + 3;

  test('each part carries its estimate; the submission the budget, method and total', async () => {
    const v = await validate(
      registry({ '*': { enqueuedTokens: 1000, maxBatches: 3 } }),
      file('ok.jsonl', 5),
      2,
    );
    expect(v.chunks.map((c) => c.tokens)).toEqual([2 * PER_LINE, 2 * PER_LINE, PER_LINE]);
    expect(v.tokenBudget).toEqual({
      budgetId: 'budget-ds-qwen-plus',
      model: 'qwen-plus',
      limit: 1000,
      maxBatches: 3,
      method: 'utf8-bytes/2',
      tokens: 5 * PER_LINE,
    });
  });

  test('no budget for the model: nothing counted, nothing changes', async () => {
    const v = await validate(registry({ 'qwen-max': { enqueuedTokens: 1000 } }), file('none.jsonl', 3), 2);
    expect(v.tokenBudget).toBeUndefined();
    expect(v.chunks.every((c) => c.tokens === undefined)).toBe(true);
  });

  test('a part larger than the whole budget is a validation error with the numbers', async () => {
    const err = await validate(
      registry({ '*': { enqueuedTokens: PER_LINE + 1 } }),
      file('big.jsonl', 3),
      2,
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain('part_exceeds_token_budget');
    expect(err?.message).toContain(`~${2 * PER_LINE} input tokens (utf8-bytes/2)`);
    expect(err?.message).toContain(`is ${PER_LINE + 1}`);
  });
});
