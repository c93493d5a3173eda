import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import { createSubmissionActivities } from '../../activities/submission';
import type { SubmissionActivities } from '../../activities/submission/types';
import type { EmulatorHandle } from '../../src/emulator';
import { KEY } from '../emulator/helpers';

export const ENDPOINT = '/v1/chat/completions';

export interface Harness {
  dir: string;
  acts: SubmissionActivities;
  heartbeats: unknown[];
  run<A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R>;
  close(): Promise<void>;
}

/** Activities over a registry of emulators ({name: handle}), with temp staging/results directories. */
export async function harness(
  emus: Record<string, { emu: EmulatorHandle; kind: 'openai' | 'dashscope' }>,
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'bk-submission-'));
  const profiles: ProviderProfile[] = Object.entries(emus).map(([name, { emu, kind }]) => ({
    name,
    baseURL: kind === 'dashscope' ? emu.compatibleUrl : emu.url,
    apiKeyEnv: 'EMU_KEY',
    kind,
  }));
  const providers = new ProviderRegistry(profiles, { EMU_KEY: KEY });
  const acts = createSubmissionActivities({
    providers,
    resultsDir: join(dir, 'results'),
    stagingDir: join(dir, 'staging'),
  });
  const heartbeats: unknown[] = [];
  // A fresh environment per call, like a fresh activity attempt (its own cancellation signal).
  const env = () => {
    // Expected failures are logged as warnings by the mock environment: keep the output to real errors.
    const e = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    e.on('heartbeat', (d: unknown) => heartbeats.push(d));
    return e;
  };
  return {
    dir,
    acts,
    heartbeats,
    run: (fn, ...args) => env().run(fn, ...args),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function writeJsonl(path: string, lines: (object | string)[]): Promise<string> {
  await writeFile(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

export function chat(customId: string, text: string, model = 'gpt-4o-mini'): Record<string, unknown> {
  return {
    custom_id: customId,
    method: 'POST',
    url: ENDPOINT,
    body: { model, messages: [{ role: 'user', content: text }] },
  };
}

export function idOf(line: string): string {
  return (JSON.parse(line) as { custom_id: string }).custom_id;
}

export { failure } from '../helpers/failures';
