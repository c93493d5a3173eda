import type { TokenUsage } from '../../workflows/contract';
import type { ResultSummary } from './types';

type Json = Record<string, unknown>;

/** Codes of requests that never ran: not billed, and always worth resubmitting. */
export const NOT_RUN_CODES: ReadonlySet<string> = new Set(['batch_expired', 'batch_cancelled']);
/** Code counted for input ids that appear in no result file. */
export const MISSING_CODE = 'not_in_results';
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'server_error',
  'internal_error',
  'rate_limit_exceeded',
  'timeout',
  'request_timeout',
  'service_unavailable',
  'overloaded',
]);
const MAX_CODES = 50;

export interface ResultLine {
  customId: string;
  outcome: 'succeeded' | 'failed' | 'notRun';
  /** Null when succeeded. */
  code: string | null;
  /** Worth running again: never ran, 408/429/5xx, or a transient code. */
  retryable: boolean;
  usage: Json | null;
}

/**
 * One line of an output or error file, classified. Success is a 2xx response without an error: DashScope
 * also writes failed requests into the output file with a non-2xx status_code.
 */
export function classifyResultLine(v: unknown): ResultLine | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Json;
  if (typeof o.custom_id !== 'string') return null;
  const response = obj(o.response);
  const error = obj(o.error);
  const status = typeof response?.status_code === 'number' ? response.status_code : null;
  const body = obj(response?.body);
  const errorCode = str(error?.code) ?? str(error?.type);
  if (!error && status !== null && status >= 200 && status < 300) {
    return {
      customId: o.custom_id,
      outcome: 'succeeded',
      code: null,
      retryable: false,
      usage: obj(body?.usage),
    };
  }
  const bodyError = obj(body?.error);
  const code =
    errorCode ??
    str(bodyError?.code) ??
    str(bodyError?.type) ??
    (status !== null ? `http_${status}` : 'unknown');
  if (NOT_RUN_CODES.has(code))
    return { customId: o.custom_id, outcome: 'notRun', code, retryable: true, usage: null };
  const retryable =
    RETRYABLE_CODES.has(code) || status === 408 || status === 429 || (status !== null && status >= 500);
  return { customId: o.custom_id, outcome: 'failed', code, retryable, usage: null };
}

function obj(v: unknown): Json | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

export function emptyTokens(): TokenUsage {
  return { inputTokens: 0, cachedTokens: 0, outputTokens: 0, reasoningTokens: 0, totalTokens: 0 };
}

/** Adds one response's usage: Responses API names (input/output_tokens) or Chat Completions names (prompt/completion_tokens). */
export function addUsage(t: TokenUsage, u: Json): void {
  const input = num(u.input_tokens) || num(u.prompt_tokens);
  const output = num(u.output_tokens) || num(u.completion_tokens);
  const inDetails = obj(u.input_tokens_details) ?? obj(u.prompt_tokens_details);
  const outDetails = obj(u.output_tokens_details) ?? obj(u.completion_tokens_details);
  t.inputTokens += input;
  t.outputTokens += output;
  t.totalTokens += num(u.total_tokens) || input + output;
  t.cachedTokens += num(inDetails?.cached_tokens);
  t.reasoningTokens += num(outDetails?.reasoning_tokens);
}

/**
 * Counts outcomes per custom_id while result files stream by. Keeps the set of ids seen (50k short strings
 * at most) to count duplicates and, given the input, requests that appear in no file; never the lines.
 */
export class ResultSummarizer {
  private readonly counts = {
    lines: 0,
    succeeded: 0,
    failed: 0,
    notRun: 0,
    unparsable: 0,
    duplicates: 0,
  };
  // Maps, not objects: a provider's code could be '__proto__'.
  private readonly failedByCode = new Map<string, number>();
  private readonly notRunByCode = new Map<string, number>();
  readonly tokens: TokenUsage = emptyTokens();
  private readonly seen = new Set<string>();

  /** text null: a line too long to assemble (counted as unparsable). */
  addLine(text: string | null): void {
    if (text !== null && text.trim() === '') return;
    this.counts.lines += 1;
    let r: ResultLine | null = null;
    if (text !== null) {
      try {
        r = classifyResultLine(JSON.parse(text));
      } catch {
        r = null;
      }
    }
    if (!r) {
      this.counts.unparsable += 1;
      return;
    }
    if (this.seen.has(r.customId)) {
      this.counts.duplicates += 1;
      return;
    }
    this.seen.add(r.customId);
    this.count(r.outcome, r.code);
    if (r.outcome === 'succeeded' && r.usage) addUsage(this.tokens, r.usage);
  }

  /** An input custom_id: counted as not run when no result file mentioned it. */
  addInputId(customId: string): void {
    if (this.seen.has(customId)) return;
    this.seen.add(customId);
    this.count('notRun', MISSING_CODE);
  }

  get summary(): ResultSummary {
    return {
      ...this.counts,
      failedByCode: Object.fromEntries(this.failedByCode),
      notRunByCode: Object.fromEntries(this.notRunByCode),
    };
  }

  private count(outcome: ResultLine['outcome'], code: string | null): void {
    if (outcome === 'succeeded') this.counts.succeeded += 1;
    else if (outcome === 'failed') {
      this.counts.failed += 1;
      bump(this.failedByCode, code ?? 'unknown');
    } else {
      this.counts.notRun += 1;
      bump(this.notRunByCode, code ?? 'unknown');
    }
  }
}

/** Counts by code, with the number of distinct codes bounded so a summary stays small in history. */
function bump(m: Map<string, number>, code: string): void {
  const c = code.slice(0, 64);
  const key = m.has(c) || m.size < MAX_CODES ? c : 'other';
  m.set(key, (m.get(key) ?? 0) + 1);
}
