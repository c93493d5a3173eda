import { z } from 'zod';
import { ApiError } from './errors';
import { prng } from './hash';
import { matchesRoute, ROUTE_NAMES, type RouteSelector } from './routes';

const routeSelector = z.enum([...ROUTE_NAMES, 'create', 'retrieve', 'list', 'cancel']);
const only = z.union([routeSelector, z.array(routeSelector)]).optional();
/** `rate` applies to every matching call; `nextN` fails the next N matching calls (counted down). */
const rule = {
  rate: z.number().min(0).max(1).optional(),
  nextN: z.number().int().min(0).optional(),
  only,
};

export const faultConfigSchema = z
  .object({
    rateLimit: z
      .object({ ...rule, retryAfterSeconds: z.number().min(0).optional() })
      .strict()
      .optional(),
    serverError: z
      .object({ ...rule, status: z.union([z.literal(500), z.literal(502), z.literal(503)]).optional() })
      .strict()
      .optional(),
    /** Every matching call waits `ms` before anything else; with `rate` or `nextN` only the calls they pick. */
    latencyMs: z
      .union([
        z.number().min(0),
        z
          .object({
            ms: z.number().min(0),
            ...rule,
            /**
             * The wait comes after the request was read whole, and the handler runs when it ends even if the
             * client gave up meanwhile: a call that takes effect after the client stopped waiting.
             */
            lateEffect: z.boolean().optional(),
          })
          .strict(),
      ])
      .optional(),
    /** afterHandler: run the handler (the call takes effect), then drop instead of answering. */
    dropConnection: z
      .object({ ...rule, afterHandler: z.boolean().optional() })
      .strict()
      .optional(),
    /** Faults of the signed webhooks the emulator sends (only with a webhook URL configured). */
    webhooks: z
      .object({
        /** The event is delivered twice (same webhook-id), as a provider's at-least-once delivery may. */
        duplicate: z.object({ rate: rule.rate, nextN: rule.nextN }).strict().optional(),
        /** The event waits `ms` (wall time) before its first attempt. */
        delay: z
          .object({ rate: rule.rate, nextN: rule.nextN, ms: z.number().min(0) })
          .strict()
          .optional(),
        /** The event is held back until the next event was sent (at most `holdMs`, default 5000): out of order. */
        reorder: z
          .object({ rate: rule.rate, nextN: rule.nextN, holdMs: z.number().min(0).optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** Seed of the PRNG behind `rate`, so a run replays the same faults. Default 1. */
    seed: z.number().int().optional(),
  })
  .strict();

export type FaultConfig = z.infer<typeof faultConfigSchema>;

/** `lateEffect`: `delayMs` is spent after the body was read, and the handler runs whether or not anyone waits. */
export type FaultDecision =
  | { kind: 'none'; delayMs: number; lateEffect?: boolean }
  | { kind: 'drop'; delayMs: number; afterHandler: boolean }
  | { kind: 'error'; delayMs: number; error: ApiError };

export interface WebhookFaultDecision {
  duplicate: boolean;
  delayMs: number;
  /** Set: hold the event until the next one was sent, or this long. */
  holdMs: number | null;
}

interface Rule {
  rate?: number;
  nextN?: number;
  only?: RouteSelector | RouteSelector[];
}

/** Holds the live fault config; consulted once per API call (admin routes never are). */
export class Faults {
  private config: FaultConfig = {};
  private random: () => number = prng(1);

  constructor(initial: FaultConfig = {}) {
    this.set(initial);
  }

  set(config: FaultConfig): void {
    this.config = structuredClone(faultConfigSchema.parse(config));
    this.random = prng(this.config.seed ?? 1);
  }

  /** The current config; nextN fields show what is left. */
  get(): FaultConfig {
    return structuredClone(this.config);
  }

  decide(route: string | undefined): FaultDecision {
    const c = this.config;
    const lat = c.latencyMs;
    const delayMs =
      lat === undefined
        ? 0
        : typeof lat === 'number'
          ? lat
          : lat.rate === undefined && lat.nextN === undefined
            ? matchesRoute(route, lat.only)
              ? lat.ms
              : 0
            : this.fires(lat, route)
              ? lat.ms
              : 0;
    if (this.fires(c.dropConnection, route))
      return { kind: 'drop', delayMs, afterHandler: c.dropConnection?.afterHandler ?? false };
    if (this.fires(c.rateLimit, route)) {
      const secs = c.rateLimit?.retryAfterSeconds ?? 1;
      const error = new ApiError(
        429,
        `Rate limit reached for requests (emulated). Please try again in ${secs}s.`,
        'rate_limit_exceeded',
        'requests',
        null,
        { 'retry-after': String(Math.ceil(secs)), 'retry-after-ms': String(Math.round(secs * 1000)) },
      );
      return { kind: 'error', delayMs, error };
    }
    if (this.fires(c.serverError, route)) {
      const status = c.serverError?.status ?? 500;
      const message =
        status === 500
          ? 'The server had an error while processing your request. Sorry about that!'
          : status === 502
            ? 'Bad gateway.'
            : 'The engine is currently overloaded, please try again later.';
      return { kind: 'error', delayMs, error: new ApiError(status, message, null, 'server_error') };
    }
    const lateEffect = typeof lat === 'object' && lat.lateEffect === true && delayMs > 0;
    return lateEffect ? { kind: 'none', delayMs, lateEffect } : { kind: 'none', delayMs };
  }

  /** Drawn once per webhook event, from the same seeded PRNG as the API faults. */
  decideWebhook(): WebhookFaultDecision {
    const w = this.config.webhooks;
    return {
      duplicate: this.fires(w?.duplicate, undefined),
      delayMs: this.fires(w?.delay, undefined) ? (w?.delay?.ms ?? 0) : 0,
      holdMs: this.fires(w?.reorder, undefined) ? (w?.reorder?.holdMs ?? 5000) : null,
    };
  }

  private fires(r: Rule | undefined, route: string | undefined): boolean {
    if (!r || !matchesRoute(route, r.only)) return false;
    if (r.nextN !== undefined && r.nextN > 0) {
      r.nextN -= 1;
      return true;
    }
    return r.rate !== undefined && r.rate > 0 && this.random() < r.rate;
  }
}
