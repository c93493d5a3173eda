import { createHash } from 'node:crypto';

/** 32-bit FNV-1a: cheap and stable across runs, enough to spread custom_ids. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Whether a request fails under a given failure rate. Exported so tests can predict which custom_ids end in
 * the error file.
 */
export function requestFails(customId: string, failureRate: number): boolean {
  if (failureRate <= 0) return false;
  if (failureRate >= 1) return true;
  return fnv1a(`fail:${customId}`) / 0x100000000 < failureRate;
}

export function shortHash(s: string, len = 24): string {
  return createHash('sha1').update(s).digest('hex').slice(0, len);
}

/** Small deterministic PRNG (mulberry32) for fault rates, so a seeded run replays the same faults. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}
