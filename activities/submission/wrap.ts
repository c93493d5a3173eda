type Json = Record<string, unknown>;

export interface LineProblem {
  code: string;
  message: string;
}

/** One non-blank input line, read. `customId` null means a bare request body: the id is generated later. */
export type ReadLine =
  | { kind: 'problems'; problems: LineProblem[] }
  | { kind: 'request'; customId: string | null; body: Json; model: string | null };

const ENVELOPE_KEYS = ['custom_id', 'method', 'url', 'body'];

/**
 * Reads one line as a batch request. A line holding none of the envelope keys is a bare request body
 * (e.g. `{"messages": [...]}`): no chat, embeddings or responses body has a top-level `custom_id`, `method`,
 * `url` or `body`, so the two shapes cannot be confused. Every problem of the line is reported, not only the first.
 */
export function readRequestLine(text: string, endpoint: string): ReadLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return problems({ code: 'invalid_json_line', message: `not valid JSON (${(e as Error).message})` });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    return problems({ code: 'invalid_json_line', message: 'the line must be a JSON object' });
  const o = v as Json;
  if (!ENVELOPE_KEYS.some((k) => k in o)) {
    return { kind: 'request', customId: null, body: o, model: modelOf(o) };
  }
  const found: LineProblem[] = [];
  if (!('custom_id' in o) || o.custom_id === null || o.custom_id === '')
    found.push({ code: 'missing_custom_id', message: 'custom_id is missing or empty' });
  else if (typeof o.custom_id !== 'string')
    found.push({
      code: 'invalid_custom_id',
      message: `custom_id must be a string, got ${typeof o.custom_id}`,
    });
  if (o.method !== 'POST')
    found.push({ code: 'method_not_post', message: `method must be 'POST', got ${show(o.method)}` });
  if (o.url !== endpoint)
    found.push({
      code: 'url_mismatch',
      message: `url ${show(o.url)} differs from the batch endpoint '${endpoint}'`,
    });
  const body = o.body;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    found.push({ code: 'missing_body', message: 'body must be a JSON object' });
  if (found.length > 0) return { kind: 'problems', problems: found };
  return {
    kind: 'request',
    customId: o.custom_id as string,
    body: body as Json,
    model: modelOf(body as Json),
  };
}

function modelOf(body: Json): string | null {
  return typeof body.model === 'string' && body.model !== '' ? body.model : null;
}

function problems(p: LineProblem): ReadLine {
  return { kind: 'problems', problems: [p] };
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? typeof v;
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The envelope written for a bare body or a body given the default model; the model goes first for readers. */
export function envelope(customId: string, endpoint: string, body: Json, model: string): string {
  const { model: _ignored, ...rest } = body;
  return JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body: { model, ...rest } });
}

/**
 * Deterministic ids for bare bodies: `line-<n>` after the source line, suffixed when the file already uses
 * that id explicitly, so a retried validation writes byte-identical staging files.
 */
export function generatedId(lineNo: number, taken: Set<string>): string {
  let id = `line-${lineNo}`;
  for (let k = 1; taken.has(id); k++) id = `line-${lineNo}-${k}`;
  taken.add(id);
  return id;
}
