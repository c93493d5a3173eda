/**
 * Emulator time in unix seconds. Batch state is computed from it on demand, so the manual clock makes
 * whole lifecycles deterministic and the real clock needs no timers.
 */
export interface Clock {
  readonly kind: 'real' | 'manual';
  now(): number;
  /** Moves time forward; for the real clock this adds a permanent offset. */
  advance(seconds: number): void;
}

export function createClock(kind: 'real' | 'manual', speed = 1, startAt?: number): Clock {
  if (!(speed > 0) || !Number.isFinite(speed))
    throw new Error(`speed must be a positive number, got ${speed}`);
  const wallStart = Date.now() / 1000;
  const origin = startAt ?? Math.floor(wallStart);
  let offset = 0;
  if (kind === 'manual') {
    return {
      kind,
      now: () => origin + offset,
      advance: (s) => {
        offset += checkSeconds(s);
      },
    };
  }
  return {
    kind,
    now: () => origin + (Date.now() / 1000 - wallStart) * speed + offset,
    advance: (s) => {
      offset += checkSeconds(s);
    },
  };
}

function checkSeconds(s: number): number {
  if (!Number.isFinite(s) || s < 0) throw new RangeError(`seconds must be a finite number >= 0, got ${s}`);
  return s;
}
