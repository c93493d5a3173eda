import { stat } from 'node:fs/promises';
import { fakeResponse } from './fake-responses';
import { requestFails } from './hash';
import { readLines } from './lines';
import type { BatchError, ValidationResult } from './types';

export interface ValidateParams {
  path: string;
  endpoint: string;
  maxLines: number;
  maxFileBytes: number;
  maxLineBytes: number | undefined;
  failureRate: number;
  /** Set when an enqueued-token limit applies: counts each request's input tokens. */
  countTokens?: (endpoint: string, body: unknown, model: string) => number;
}

/** Providers report a bounded list of problems, not one per line of a broken 200 MB file. */
const MAX_ERRORS = 100;

type Json = Record<string, unknown>;

/** One parsed, well-formed input line; null plus an error when the line is unusable. */
export function parseInputLine(
  text: string,
  lineNo: number,
  endpoint: string,
): { req: { customId: string; body: Json; model: string } } | { error: BatchError } {
  const err = (code: string, message: string, param: string | null = null) => ({
    error: { code, message: `Line ${lineNo}: ${message}`, param, line: lineNo },
  });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return err('invalid_json_line', 'This line is not parseable as valid JSON.');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    return err('invalid_json_line', 'The line must be a JSON object.');
  const o = v as Json;
  if (typeof o.custom_id !== 'string' || o.custom_id === '')
    return err('missing_required_parameter', 'custom_id must be a non-empty string.', 'custom_id');
  if (o.method !== 'POST') return err('invalid_method', `method must be 'POST'.`, 'method');
  if (typeof o.url !== 'string') return err('missing_required_parameter', 'url must be a string.', 'url');
  if (o.url !== endpoint)
    return err('url_mismatch', `The url '${o.url}' does not match the batch endpoint '${endpoint}'.`, 'url');
  if (!o.body || typeof o.body !== 'object' || Array.isArray(o.body))
    return err('missing_required_parameter', 'body must be a JSON object.', 'body');
  const body = o.body as Json;
  if (typeof body.model !== 'string' || body.model === '')
    return err('missing_required_parameter', 'body.model must be a non-empty string.', 'body.model');
  return { req: { customId: o.custom_id, body, model: body.model } };
}

/**
 * Streams the input file once, the way providers validate while `validating`. Keeps a Set of custom_ids
 * (for duplicates) and per-request token/failure prefix sums; never the lines.
 */
export async function validateInput(p: ValidateParams): Promise<ValidationResult> {
  const errors: BatchError[] = [];
  const push = (e: BatchError): void => {
    if (errors.length < MAX_ERRORS) errors.push(e);
  };
  const { size } = await stat(p.path);
  if (size > p.maxFileBytes) {
    return {
      ok: false,
      errors: [
        {
          code: 'file_too_large',
          message: `The input file is ${size} bytes; the limit is ${p.maxFileBytes} bytes.`,
          param: 'input_file_id',
          line: null,
        },
      ],
    };
  }
  const seen = new Set<string>();
  let model: string | null = null;
  const failed: number[] = [0];
  const tin: number[] = [0];
  const tout: number[] = [0];
  let total = 0;
  let enqueuedTokens = 0;
  for await (const line of readLines(p.path, p.maxLineBytes ?? p.maxFileBytes)) {
    if (line.text === null) {
      push({
        code: 'line_too_large',
        message: `Line ${line.lineNo}: the line is ${line.bytes} bytes; the limit is ${p.maxLineBytes} bytes.`,
        param: null,
        line: line.lineNo,
      });
      continue;
    }
    // Blank lines (typically a trailing newline) are not requests.
    if (line.text.trim() === '') continue;
    total += 1;
    if (total === p.maxLines + 1)
      push({
        code: 'too_many_tasks',
        message: `Line ${line.lineNo}: the file has more than ${p.maxLines} requests.`,
        param: null,
        line: line.lineNo,
      });
    const parsed = parseInputLine(line.text, line.lineNo, p.endpoint);
    if ('error' in parsed) {
      push(parsed.error);
      continue;
    }
    const { customId, body } = parsed.req;
    if (seen.has(customId)) {
      push({
        code: 'duplicate_custom_id',
        message: `Line ${line.lineNo}: the custom_id '${customId}' is used more than once.`,
        param: 'custom_id',
        line: line.lineNo,
      });
      continue;
    }
    seen.add(customId);
    if (model === null) model = parsed.req.model;
    else if (parsed.req.model !== model) {
      push({
        code: 'model_mismatch',
        message: `Line ${line.lineNo}: model '${parsed.req.model}' differs from '${model}'; a batch uses one model.`,
        param: 'body.model',
        line: line.lineNo,
      });
      continue;
    }
    if (errors.length > 0) continue;
    if (p.countTokens) enqueuedTokens += p.countTokens(p.endpoint, body, parsed.req.model);
    const fails = requestFails(customId, p.failureRate);
    const r = fails ? null : fakeResponse(p.endpoint, body, customId, 0);
    const i = failed.length - 1;
    failed.push(failed[i] + (fails ? 1 : 0));
    tin.push(tin[i] + (r?.inputTokens ?? 0));
    tout.push(tout[i] + (r?.outputTokens ?? 0));
  }
  if (total === 0 && errors.length === 0)
    errors.push({
      code: 'empty_file',
      message: 'The input file has no requests.',
      param: 'input_file_id',
      line: null,
    });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    total,
    model,
    cumFailed: Uint32Array.from(failed),
    cumIn: Float64Array.from(tin),
    cumOut: Float64Array.from(tout),
    enqueuedTokens,
  };
}
