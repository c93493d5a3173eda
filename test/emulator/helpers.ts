import OpenAI, { toFile } from 'openai';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator';

export const KEY = 'sk-test-key';

/** A manual-clock emulator with round timings, so assertions can name exact timestamps. */
export function startManual(opts: EmulatorOptions = {}): Promise<EmulatorHandle> {
  return startEmulator({
    clock: 'manual',
    startTime: 1_700_000_000,
    apiKey: KEY,
    validatingSeconds: 10,
    requestSeconds: 5,
    finalizingSeconds: 20,
    cancellingSeconds: 30,
    ...opts,
  });
}

export function client(h: EmulatorHandle, baseURL = h.url, apiKey = KEY): OpenAI {
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: 20_000 });
}

export function chatLine(
  customId: string,
  text: string,
  model = 'gpt-4o-mini',
  url = '/v1/chat/completions',
) {
  return {
    custom_id: customId,
    method: 'POST',
    url,
    body: { model, messages: [{ role: 'user', content: text }] },
  };
}

export async function upload(c: OpenAI, lines: (object | string)[], name = 'input.jsonl'): Promise<string> {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const f = await c.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
  return f.id;
}

/** A line of an output or error file. The body differs per endpoint, so tests reach into it loosely. */
export interface ResultLine {
  id: string;
  custom_id: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- endpoint-specific JSON, asserted field by field
  response: { status_code: number; request_id: string; body: any } | null;
  error: { code: string; message: string } | null;
}

export async function jsonl(c: OpenAI, fileId: string): Promise<ResultLine[]> {
  const res = await c.files.content(fileId);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ResultLine);
}

export async function createChatBatch(
  c: OpenAI,
  n: number,
  extra: Partial<OpenAI.Batches.BatchCreateParams> = {},
): Promise<OpenAI.Batches.Batch> {
  const lines = Array.from({ length: n }, (_, i) => chatLine(`req-${i}`, `question number ${i}`));
  const input_file_id = await upload(c, lines);
  return c.batches.create({
    input_file_id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    ...extra,
  });
}
