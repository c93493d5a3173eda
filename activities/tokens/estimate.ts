// Token estimates of batch requests, for admission against a provider's enqueued-token limit. Runs in activities
// and in the emulator, never in workflow code (the tokenizer's tables are large and it is not deterministic-safe
// to bundle). Only the input side counts: enqueued tokens are the prompt tokens of the batch's requests.
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import type { ProviderKind } from '../providers';

/**
 * How a part's tokens were counted. `tiktoken:*`: OpenAI's own BPE tables (gpt-tokenizer), exact for the text
 * plus OpenAI's documented chat overhead. `utf8-bytes/2`: other providers, whose tokenizers we do not ship; every
 * byte-level BPE (Qwen, Llama, DeepSeek...) encodes at most one token per byte and in practice 3-4 bytes of
 * English or CJK per token, so half the UTF-8 bytes over-counts by about 2x: conservative, never optimistic.
 */
export type TokenMethod = 'tiktoken:o200k_base' | 'tiktoken:cl100k_base' | 'utf8-bytes/2';

/** OpenAI's chat format adds about 3 tokens per message and 3 to prime the reply (the cookbook's count). */
const PER_MESSAGE = 3;
const PER_REPLY = 3;

/** Models on the older cl100k_base tables; every later OpenAI model (gpt-4o, 4.1, 5, o-series) uses o200k_base. */
const CL100K = /^(gpt-4(?!o|\.)|gpt-3\.5|text-embedding-|davinci-002|babbage-002)/;

export function tokenMethod(kind: ProviderKind, model: string | null): TokenMethod {
  if (kind !== 'openai') return 'utf8-bytes/2';
  return model !== null && CL100K.test(model) ? 'tiktoken:cl100k_base' : 'tiktoken:o200k_base';
}

function count(method: TokenMethod, text: string): number {
  if (text === '') return 0;
  // Text that looks like a special token (`<|endoftext|>`) is ordinary text in a request: count it, never throw.
  if (method === 'tiktoken:o200k_base') return o200k(text, { disallowedSpecial: new Set() });
  if (method === 'tiktoken:cl100k_base') return cl100k(text, { disallowedSpecial: new Set() });
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 2);
}

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The text of a message's `content`: a string, or parts of which the text ones count (images are not counted). */
function contentText(content: Json): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    return content === undefined || content === null ? '' : JSON.stringify(content);
  return content
    .map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : typeof p === 'string' ? p : ''))
    .join('\n');
}

/** Tools and response formats are sent to the model as text: counted as their JSON. */
function extras(method: TokenMethod, body: Record<string, Json>): number {
  let n = 0;
  for (const k of ['tools', 'functions', 'response_format', 'text'] as const)
    if (body[k] !== undefined) n += count(method, JSON.stringify(body[k]));
  return n;
}

/** The input tokens of one request body for `endpoint`. */
export function requestTokens(method: TokenMethod, endpoint: string, body: Json): number {
  if (!isObj(body)) return count(method, JSON.stringify(body ?? ''));
  if (endpoint.endsWith('/chat/completions') && Array.isArray(body.messages)) {
    let n = PER_REPLY + extras(method, body);
    for (const m of body.messages) {
      n += PER_MESSAGE;
      if (!isObj(m)) continue;
      n += count(method, contentText(m.content));
      if (typeof m.name === 'string') n += count(method, m.name) + 1;
      if (m.tool_calls !== undefined) n += count(method, JSON.stringify(m.tool_calls));
    }
    return n;
  }
  if (endpoint.endsWith('/embeddings')) return embeddingTokens(method, body.input);
  if (endpoint.endsWith('/responses')) {
    let n = extras(method, body);
    if (typeof body.instructions === 'string') n += count(method, body.instructions);
    const input = body.input;
    if (typeof input === 'string') return n + count(method, input);
    if (Array.isArray(input))
      for (const item of input) {
        n += PER_MESSAGE;
        n += isObj(item) ? count(method, contentText(item.content ?? item.output ?? '')) : 0;
      }
    return n;
  }
  if (endpoint.endsWith('/completions') && body.prompt !== undefined)
    return embeddingTokens(method, body.prompt);
  // Another endpoint: the whole body as text (over-counts by the JSON syntax, never under).
  return count(method, JSON.stringify(body));
}

/** Embeddings (and legacy completions) inputs: text, texts, or already tokenized arrays (their length). */
function embeddingTokens(method: TokenMethod, input: Json): number {
  if (typeof input === 'string') return count(method, input);
  if (!Array.isArray(input)) return 0;
  if (input.every((x) => typeof x === 'number')) return input.length;
  return input.reduce<number>((n, x) => n + embeddingTokens(method, x), 0);
}
