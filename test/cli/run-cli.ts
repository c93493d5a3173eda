import type { Client } from '@temporalio/client';
import { main, type CliDeps } from '../../src/cli/main';
import type { CliIo } from '../../src/cli/output';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, capturing its output; Temporal is the given client (no real address). */
export async function runCli(
  args: string[],
  opts: { client?: Client; env?: Record<string, string | undefined>; io?: Partial<CliIo> } & CliDeps = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const { client, env, io, ...deps } = opts;
  const code = await main(args, {
    connect: client
      ? async () => ({ client, address: 'test-server', namespace: 'default', close: async () => undefined })
      : undefined,
    ...deps,
    io: {
      out: (t) => (stdout += t),
      err: (t) => (stderr += t),
      isTTY: false,
      env: env ?? {},
      ...io,
    },
  });
  return { code, stdout, stderr };
}

/** Errors are one line on stderr, prefixed with the command name. */
export function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.stderr).toMatch(/^batchkeeper: [^\n]+\n$/);
  expect(run.stderr).toMatch(pattern);
}
