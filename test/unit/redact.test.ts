// Provider messages that echo a key must lose it before they become an activity failure's message.
import { APIConnectionError, APIError } from 'openai';
import { classifyProviderError } from '../../activities/errors';
import { ProviderRegistry } from '../../activities/providers';
import { redactSecrets } from '../../activities/redact';

const apiError = (status: number, message: string): APIError =>
  APIError.generate(status, { error: { message, type: 'invalid_request_error' } }, undefined, new Headers());

const ctx = {
  provider: 'openai',
  operation: 'retrieve batch',
  batchId: 'batch_abc123',
  apiKeyEnv: 'OPENAI_API_KEY',
};

test("OpenAI's 401 with a masked key: the failure keeps the provider's words and the fix, not the key", () => {
  const failure = classifyProviderError(
    apiError(
      401,
      'Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.',
    ),
    ctx,
  );
  expect(failure.message).not.toContain('sk-proj');
  expect(failure.message).not.toContain('abcd');
  expect(failure.message).toContain('Incorrect API key provided: [redacted].');
  expect(failure.message).toContain('https://platform.openai.com/account/api-keys');
  expect(failure.message).toContain('Check the key in OPENAI_API_KEY on the worker.');
  // The provider's own full stop is not doubled.
  expect(failure.message).toContain('api-keys. Check the key');
  expect(failure.message).toContain('batch_abc123');
});

test.each([
  ['a whole sk- key', 'Invalid key sk-live-0123456789abcdefABCDEF given', 'sk-live-0123456789abcdefABCDEF'],
  ['a DashScope-style key', 'InvalidApiKey: sk-8f2c1d9e7a6b5c4d3e2f1a0b9c8d7e6f', 'sk-8f2c1d9e7a6b'],
  ['a masked key of another shape', 'Invalid API key abcd****wxyz', 'wxyz'],
  [
    'an echoed Authorization header',
    'header was: Authorization: Bearer tok_XYZ987654321',
    'tok_XYZ987654321',
  ],
  ['a key in a query string', 'GET /v1/batches?api_key=qq-1234567890 refused', 'qq-1234567890'],
])('%s is redacted from a 403', (_, message, leaked) => {
  const failure = classifyProviderError(apiError(403, message), ctx);
  expect(failure.message).not.toContain(leaked);
  expect(failure.message).toContain('[redacted]');
});

test("the profile's own key value is redacted whatever its shape, once the registry holds it", () => {
  const key = 'emu_7f3a9c1e2b4d'; // no sk- prefix: only knowing the value can catch it
  new ProviderRegistry(
    [{ name: 'emu', baseURL: 'http://127.0.0.1:1/v1', apiKeyEnv: 'EMU_KEY', kind: 'openai' }],
    { EMU_KEY: key },
  );
  const failure = classifyProviderError(apiError(401, `key ${key} is not valid`), {
    provider: 'emu',
    operation: 'retrieve batch',
  });
  expect(failure.message).not.toContain(key);
  expect(failure.message).toContain('key [redacted] is not valid');
});

test("the value of the context's key variable is redacted too", () => {
  const key = 'plain-value-from-env-91827';
  process.env.BK_REDACT_TEST_KEY = key;
  try {
    const failure = classifyProviderError(apiError(400, `bad request with ${key}`), {
      ...ctx,
      apiKeyEnv: 'BK_REDACT_TEST_KEY',
    });
    expect(failure.message).not.toContain(key);
  } finally {
    delete process.env.BK_REDACT_TEST_KEY;
  }
});

test('network and unknown errors are redacted as well', () => {
  const network = classifyProviderError(
    new APIConnectionError({ message: 'connect failed for https://h/v1?api_key=zz-99887766' }),
    ctx,
  );
  expect(network.message).not.toContain('zz-99887766');
  const other = classifyProviderError(new Error('proxy said Bearer abc.def.ghi'), ctx);
  expect(other.message).not.toContain('abc.def.ghi');
});

test('ids, URLs and sentences that only look a little like keys survive', () => {
  const text =
    'Batch batch_67c0a1b2c3d4e5f6a7b8c9d0e1f2a3b4 with input file-9aXb2C3dE4fG5hI6jK7lM8 on task-queue ' +
    'batchkeeper (disk-usage 3%): see https://platform.openai.com/docs. Done.';
  expect(redactSecrets(text)).toBe(text);
});

test('a known key inside a longer one goes whole, longest first', () => {
  expect(redactSecrets('x ABCDEFGH12345678 y', ['ABCDEFGH', 'ABCDEFGH12345678'])).toBe('x [redacted] y');
});
