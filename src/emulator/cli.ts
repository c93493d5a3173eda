import { startEmulator, type EmulatorHandle } from './emulator';
import type { EmulatorOptions } from './options';

export interface CliOptions extends EmulatorOptions {
  /** Where to print the banner; default console.log. */
  print?: (line: string) => void;
  /** Called once listening (e.g. to wire more shutdown logic). */
  onReady?: (handle: EmulatorHandle) => void;
}

/**
 * Runs the emulator until SIGINT/SIGTERM, then closes it. Resolves once it is closed (the caller decides
 * whether to exit); the signal handlers are removed again so a second Ctrl-C kills as usual.
 */
export async function runEmulatorFromCli(opts: CliOptions = {}): Promise<void> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const handle = await startEmulator(opts);
  print(`batchkeeper emulator (${handle.profile} profile) listening`);
  print(`  OPENAI_BASE_URL=${handle.url}`);
  print(`  OPENAI_API_KEY=${handle.apiKey}`);
  print(`  DashScope-style base URL: ${handle.compatibleUrl}`);
  print(`  admin: ${handle.adminUrl}/health`);
  // The URLs only: the signing secret stays out of the output.
  for (const url of [opts.webhookUrls ?? []].flat()) print(`  webhooks (signed) to: ${url}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      print(`received ${signal}, stopping emulator`);
      void handle.close().then(resolve, (e: unknown) => {
        print(`error while stopping: ${(e as Error).message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    opts.onReady?.(handle);
  });
}
