/**
 * Providers echo keys in their error messages (OpenAI's 401: "Incorrect API key provided: sk-proj-****abcd";
 * some compatible servers echo the whole key or the Authorization header). Activity failure messages end up in
 * workflow histories, worker logs and CLI output, so whatever looks like a key is cut out before a provider's
 * message becomes part of one.
 */

const REDACTED = '[redacted]';

/** Shorter values are too likely to occur in ordinary text to be replaced everywhere. */
const MIN_SECRET_LENGTH = 8;

/** Key values this process holds (registered by the provider registry), redacted wherever they appear. */
const knownSecrets = new Set<string>();

export function rememberSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) knownSecrets.add(value);
}

const KEY_SHAPED: readonly [RegExp, string][] = [
  // An echoed Authorization header, whatever the token looks like.
  [/\bBearer\s+[^\s"',;]+/gi, `Bearer ${REDACTED}`],
  // OpenAI-style keys, whole or masked (sk-..., sk-proj-..., sk-proj-****abcd); DashScope's look the same.
  // '.' is left out so a sentence's full stop after the key survives.
  [/\bsk-[A-Za-z0-9_*•-]{3,}/g, REDACTED],
  // Masked keys of other shapes (abcd****wxyz).
  [/[A-Za-z0-9_-]*\*{3,}[A-Za-z0-9_-]*/g, REDACTED],
  // api_key=..., "api_key": "...", access_token=... in echoed requests or URLs.
  [/\b(api[_-]?key|access[_-]?token|secret)(["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi, `$1$2${REDACTED}`],
];

/** The text with every known key value, every extra value given and everything key-shaped replaced. */
export function redactSecrets(text: string, extra: readonly (string | undefined)[] = []): string {
  const values = [...knownSecrets, ...extra.filter((v): v is string => !!v && v.length >= MIN_SECRET_LENGTH)];
  // Longest first: a key that contains another known key must go whole.
  values.sort((a, b) => b.length - a.length);
  let out = text;
  for (const value of values) out = out.split(value).join(REDACTED);
  for (const [pattern, replacement] of KEY_SHAPED) out = out.replace(pattern, replacement);
  return out;
}
