import { fnv1a, shortHash } from './hash';

/** A deterministic stand-in for what the model would have answered, plus the tokens it would bill. */
export interface FakeResult {
  body: Record<string, unknown>;
  inputTokens: number;
  outputTokens: number;
}

type Json = Record<string, unknown>;

/** ~4 characters a token, the usual rule of thumb; never 0 for non-empty content. */
export const tokensOf = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

/** Flattens the text out of the shapes message content takes (string, or parts with `text`). */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(textOf).join(' ');
  if (v && typeof v === 'object') {
    const o = v as Json;
    if (typeof o.text === 'string') return o.text;
    if (o.content !== undefined) return textOf(o.content);
  }
  return '';
}

function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return textOf(messages);
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as Json | null;
    if (m && m.role === 'user') return textOf(m.content);
  }
  return messages.length ? textOf((messages[messages.length - 1] as Json | null)?.content) : '';
}

/** The reply text: the tail of the last user message, so tests can tell which request produced which answer. */
export function replyText(prompt: string): string {
  const snippet = prompt.replace(/\s+/g, ' ').trim().slice(0, 80);
  return `Emulated reply (${fnv1a(prompt).toString(16).padStart(8, '0')}): ${snippet}`;
}

export function fakeEmbedding(text: string, dims: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dims; i++)
    out.push(Math.round(((fnv1a(`${i}:${text}`) / 0xffffffff) * 2 - 1) * 1e6) / 1e6);
  return out;
}

export function fakeResponse(endpoint: string, body: Json, customId: string, created: number): FakeResult {
  const model = typeof body.model === 'string' ? body.model : 'unknown';
  const id = shortHash(`${endpoint}:${customId}`, 24);
  switch (endpoint) {
    case '/v1/embeddings': {
      const inputs =
        Array.isArray(body.input) && typeof body.input[0] !== 'number' ? body.input : [body.input];
      const dims =
        typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.min(body.dimensions, 64) : 8;
      const texts = inputs.map(textOf);
      const inputTokens = texts.reduce((n, t) => n + tokensOf(t.length), 0);
      return {
        inputTokens,
        outputTokens: 0,
        body: {
          object: 'list',
          data: texts.map((t, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(t, dims) })),
          model,
          usage: { prompt_tokens: inputTokens, total_tokens: inputTokens },
        },
      };
    }
    case '/v1/responses': {
      const prompt = textOf(body.instructions) + textOf(body.input);
      const text = replyText(typeof body.input === 'string' ? body.input : lastUserText(body.input));
      const inputTokens = tokensOf(prompt.length);
      const outputTokens = tokensOf(text.length);
      return {
        inputTokens,
        outputTokens,
        body: {
          id: `resp_${id}`,
          object: 'response',
          created_at: created,
          status: 'completed',
          model,
          output: [
            {
              type: 'message',
              id: `msg_${id}`,
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text, annotations: [] }],
            },
          ],
          usage: {
            input_tokens: inputTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: outputTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: inputTokens + outputTokens,
          },
        },
      };
    }
    case '/v1/completions': {
      const prompt = textOf(body.prompt);
      const text = replyText(prompt);
      const inputTokens = tokensOf(prompt.length);
      const outputTokens = tokensOf(text.length);
      return {
        inputTokens,
        outputTokens,
        body: {
          id: `cmpl-${id}`,
          object: 'text_completion',
          created,
          model,
          choices: [{ index: 0, text, finish_reason: 'stop', logprobs: null }],
          usage: {
            prompt_tokens: inputTokens,
            completion_tokens: outputTokens,
            total_tokens: inputTokens + outputTokens,
          },
        },
      };
    }
    default: {
      // /v1/chat/completions
      const all = Array.isArray(body.messages)
        ? body.messages.map((m) => textOf((m as Json | null)?.content))
        : [];
      const text = replyText(lastUserText(body.messages));
      const inputTokens = tokensOf(all.join('').length);
      const outputTokens = tokensOf(text.length);
      return {
        inputTokens,
        outputTokens,
        body: {
          id: `chatcmpl-${id}`,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: text, refusal: null },
              finish_reason: 'stop',
              logprobs: null,
            },
          ],
          usage: {
            prompt_tokens: inputTokens,
            completion_tokens: outputTokens,
            total_tokens: inputTokens + outputTokens,
          },
        },
      };
    }
  }
}
