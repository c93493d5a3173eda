import OpenAI, { toFile } from 'openai';
import { DEFAULT_EMULATOR_PORT } from './run-dev';

export interface DemoBatch {
  batchId: string;
  requests: number;
  baseURL: string;
}

/** Creates a small chat-completions batch on the local emulator, for trying track / status / cancel. */
export async function createDemoBatch(
  opts: { baseURL?: string; apiKey?: string; requests?: number } = {},
): Promise<DemoBatch> {
  const baseURL =
    opts.baseURL ?? process.env.BATCHKEEPER_EMULATOR_URL ?? `http://127.0.0.1:${DEFAULT_EMULATOR_PORT}/v1`;
  const requests = opts.requests ?? 120;
  const client = new OpenAI({
    baseURL,
    apiKey: opts.apiKey ?? 'sk-emulator',
    maxRetries: 0,
    timeout: 10_000,
  });
  const lines = Array.from({ length: requests }, (_, i) =>
    JSON.stringify({
      custom_id: `demo-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `Write a haiku about batch job number ${i + 1}.` }],
      },
    }),
  );
  let file;
  try {
    file = await client.files.create({
      file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'demo.jsonl'),
      purpose: 'batch',
    });
  } catch (err) {
    throw new Error(
      `cannot reach the emulator at ${baseURL} (${(err as Error).message}): start everything with \`npm start\` first`,
    );
  }
  const batch = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { source: 'batchkeeper demo' },
  });
  return { batchId: batch.id, requests, baseURL };
}
