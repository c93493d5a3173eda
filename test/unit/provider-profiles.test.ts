// Configured provider profiles must not quietly point a built-in's key at another host.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_PROFILES } from '../../activities/providers';
import { ConfigError, loadProviderProfiles } from '../../src/config/providers';
import { loadWorkerConfig } from '../../src/config/worker-config';

const EMULATOR_URL = 'http://127.0.0.1:8787/v1';
const providersEnv = (profiles: unknown[], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  BATCHKEEPER_PROVIDERS: JSON.stringify(profiles),
  ...extra,
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

test.each(BUILTIN_PROFILES.map((b) => [b.name, b.apiKeyEnv]))(
  "a profile named '%s' with another baseURL is refused with one line naming the fix",
  (name, keyEnv) => {
    const err = configError(() =>
      loadProviderProfiles(providersEnv([{ name, baseURL: EMULATOR_URL, apiKeyEnv: keyEnv }])),
    );
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain('BATCHKEEPER_PROVIDERS');
    expect(err.message).toContain(`'${name}'`);
    expect(err.message).toContain(EMULATOR_URL);
    expect(err.message).toContain('"override": true');
    expect(err.message).toContain(keyEnv);
  },
);

test('the worker configuration refuses it too (the worker exits 2 on a ConfigError)', () => {
  expect(() =>
    loadWorkerConfig(
      providersEnv([{ name: 'openai', baseURL: EMULATOR_URL, apiKeyEnv: 'OPENAI_API_KEY' }], {
        OPENAI_API_KEY: 'sk-real-key-never-sent',
      }),
    ),
  ).toThrow(ConfigError);
});

test('a profiles file is held to the same rule, and the error names the file', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'bk-profiles-')), 'providers.json');
  writeFileSync(
    file,
    JSON.stringify([{ name: 'dashscope', baseURL: EMULATOR_URL, apiKeyEnv: 'DASHSCOPE_API_KEY' }]),
  );
  const err = configError(() => loadProviderProfiles({ BATCHKEEPER_PROVIDERS_FILE: file }));
  expect(err.message).toContain(`file ${file}`);
  expect(err.message).toContain("'dashscope'");
});

test("another name may use a built-in's key variable only at that built-in's baseURL", () => {
  const err = configError(() =>
    loadProviderProfiles(
      providersEnv([{ name: 'local', baseURL: EMULATOR_URL, apiKeyEnv: 'OPENAI_API_KEY' }]),
    ),
  );
  expect(err.message).toContain("'local'");
  expect(err.message).toContain('OPENAI_API_KEY');
  expect(err.message).toContain("'openai'");
  const sameHost = loadProviderProfiles(
    providersEnv([
      { name: 'openai-team-b', baseURL: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY' },
    ]),
  );
  expect(sameHost.map((p) => p.name)).toContain('openai-team-b');
});

test('"override": true is what lets the same profiles through, and it does not stay on the profile', () => {
  const risky = [
    { name: 'openai', baseURL: EMULATOR_URL, apiKeyEnv: 'OPENAI_API_KEY' },
    { name: 'proxy', baseURL: 'https://llm-proxy.internal/v1', apiKeyEnv: 'DASHSCOPE_API_KEY' },
  ];
  for (const one of risky) expect(() => loadProviderProfiles(providersEnv([one]))).toThrow(ConfigError);
  const profiles = loadProviderProfiles(providersEnv(risky.map((p) => ({ ...p, override: true }))));
  expect(profiles.find((p) => p.name === 'openai')).toEqual({
    name: 'openai',
    baseURL: EMULATOR_URL,
    apiKeyEnv: 'OPENAI_API_KEY',
    kind: 'generic',
  });
  expect(profiles.find((p) => p.name === 'proxy')?.baseURL).toBe('https://llm-proxy.internal/v1');
});

test("the built-in's baseURL in another spelling is the same endpoint; another path is not", () => {
  const profiles = loadProviderProfiles(
    providersEnv([
      {
        name: 'openai',
        baseURL: 'HTTPS://API.OpenAI.com:443/v1/',
        apiKeyEnv: 'TEAM_OPENAI_KEY',
        timeoutMs: 5000,
      },
    ]),
  );
  expect(profiles.find((p) => p.name === 'openai')).toMatchObject({
    apiKeyEnv: 'TEAM_OPENAI_KEY',
    timeoutMs: 5000,
  });
  expect(() =>
    loadProviderProfiles(
      providersEnv([{ name: 'openai', baseURL: 'https://api.openai.com/v2', apiKeyEnv: 'OPENAI_API_KEY' }]),
    ),
  ).toThrow(ConfigError);
});

test('credentials in a refused baseURL stay out of the error line', () => {
  const err = configError(() =>
    loadProviderProfiles(
      providersEnv([
        { name: 'openai', baseURL: 'https://alice:hunter22@proxy.example/v1', apiKeyEnv: 'OPENAI_API_KEY' },
      ]),
    ),
  );
  expect(err.message).toContain('proxy.example/v1');
  expect(err.message).not.toContain('hunter22');
  expect(err.message).not.toContain('alice');
});

test('tokenBudgets: per model (or "*"), a positive integer of tokens and optional batches; anything else refused', () => {
  const base = { name: 'mine', baseURL: EMULATOR_URL, apiKeyEnv: 'MINE_KEY' };
  const budgets = {
    'gpt-4o-mini': { enqueuedTokens: 2_000_000, maxBatches: 50 },
    '*': { enqueuedTokens: 90_000 },
  };
  const [mine] = loadProviderProfiles(providersEnv([{ ...base, tokenBudgets: budgets }])).filter(
    (p) => p.name === 'mine',
  );
  expect(mine.tokenBudgets).toEqual(budgets);
  for (const bad of [{ m: { enqueuedTokens: 0 } }, { m: { enqueuedTokens: 1.5 } }, { m: { maxBatches: 2 } }])
    expect(
      configError(() => loadProviderProfiles(providersEnv([{ ...base, tokenBudgets: bad }]))).message,
    ).toContain('tokenBudgets');
});

test('a profile sets its rate budget and fleet polling; a bad value is refused with the field named', () => {
  const [, , custom] = loadProviderProfiles(
    providersEnv([
      {
        name: 'my-llm',
        baseURL: EMULATOR_URL,
        apiKeyEnv: 'MY_LLM_KEY',
        rateLimitPerSecond: 2.5,
        fleetPolling: { maxIntervalSeconds: 300, maxPagesPerSweep: 50 },
      },
    ]),
  );
  expect(custom).toMatchObject({
    rateLimitPerSecond: 2.5,
    fleetPolling: { maxIntervalSeconds: 300, maxPagesPerSweep: 50 },
  });
  const bad = (field: Record<string, unknown>) =>
    configError(() =>
      loadProviderProfiles(
        providersEnv([{ name: 'my-llm', baseURL: EMULATOR_URL, apiKeyEnv: 'MY_LLM_KEY', ...field }]),
      ),
    ).message;
  expect(bad({ rateLimitPerSecond: 0 })).toContain('rateLimitPerSecond');
  expect(bad({ fleetPolling: { everySecond: 1 } })).toContain('fleetPolling');
  expect(bad({ fleetPolling: 'yes' })).toContain('fleetPolling');
  expect(bad({ fleetPolling: { minIntervalSeconds: 60, maxIntervalSeconds: 30 } })).toMatch(
    /fleetPolling.*minIntervalSeconds must not exceed maxIntervalSeconds/,
  );
  expect(bad({ fleetPolling: { fullSweepEverySeconds: 900, progressEverySeconds: 600 } })).toContain(
    'fullSweepEverySeconds',
  );
});

test("BATCHKEEPER_MAX_CACHED_WORKFLOWS caps the runs a worker keeps in memory (unset: Temporal's default); junk refused", () => {
  const env = (more: Record<string, string> = {}) => ({ OPENAI_API_KEY: 'sk-test', ...more });
  expect(loadWorkerConfig(env()).maxCachedWorkflows).toBeUndefined();
  expect(loadWorkerConfig(env({ BATCHKEEPER_MAX_CACHED_WORKFLOWS: '' })).maxCachedWorkflows).toBeUndefined();
  expect(loadWorkerConfig(env({ BATCHKEEPER_MAX_CACHED_WORKFLOWS: '250' })).maxCachedWorkflows).toBe(250);
  for (const bad of ['0', '1', '2.5', 'many']) {
    const err = configError(() => loadWorkerConfig(env({ BATCHKEEPER_MAX_CACHED_WORKFLOWS: bad })));
    expect(err.message).toContain('BATCHKEEPER_MAX_CACHED_WORKFLOWS');
  }
});
