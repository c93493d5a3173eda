// Client library for other TypeScript services: connect, then track / cancel / inspect batches.
export {
  connectClient,
  resolveConnectConfig,
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  type ConnectOptions,
  type ConnectedClient,
  type ResolvedConnectConfig,
} from './connection';
export {
  BatchkeeperClient,
  LIST_STATUSES,
  listQuery,
  batchIdOf,
  type BatchkeeperClientOptions,
  type BatchStatusResult,
  type BatchWorkflowSummary,
  type CancelOptions,
  type CancelResult,
  type ExecutionInfo,
  type ExecutionStatus,
  type ListOptions,
  type ListStatus,
  type StatusOptions,
  type TrackOptions,
  type TrackResult,
  type WaitOptions,
} from './batches';
export {
  BatchNotFoundError,
  BatchWorkflowClosedError,
  BatchWorkflowEndedError,
  ClientConfigError,
  TemporalConnectError,
  WaitTimeoutError,
  type EndedWithoutOutcome,
} from './errors';
export { SubmissionsClient, type SubmitResult } from './submissions';
