/** Local OpenAI/DashScope-compatible Batch API emulator. See docs/emulator.md. */
export { startEmulator, type EmulatorHandle, type BatchPeek } from './emulator';
export { runEmulatorFromCli, type CliOptions } from './cli';
export type { EmulatorOptions } from './options';
export type { FaultConfig } from './faults';
export type { RouteName, RouteSelector } from './routes';
export type { CallLogEntry, BatchStatus, ProfileName, BatchError, FileRec } from './types';
export { requestFails } from './hash';
export { replyText, fakeEmbedding } from './fake-responses';
