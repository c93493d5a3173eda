import { ApiError, unauthorized } from './errors';

/**
 * How the 401 for a wrong key quotes that key. OpenAI's says "Incorrect API key provided: sk-proj-****abcd"
 * (`masked`); some compatible servers echo the key as sent (`full`). Clients must not pass either on into
 * their own errors and logs; these modes let tests prove they do not.
 */
export type KeyEcho = 'none' | 'masked' | 'full';

export const KEY_ECHOES: readonly KeyEcho[] = ['none', 'masked', 'full'];

/** OpenAI's masking: the first characters and the last four, stars in between. */
export function maskKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 8)}****${key.slice(-4)}` : '****';
}

export function unauthorizedFor(presented: string | undefined, echo: KeyEcho): ApiError {
  if (echo === 'none' || presented === undefined) return unauthorized();
  const quoted = echo === 'masked' ? maskKey(presented) : presented;
  return new ApiError(
    401,
    `Incorrect API key provided: ${quoted}. You can find your API key in your emulator settings.`,
    'invalid_api_key',
  );
}
