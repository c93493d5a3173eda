// The ApplicationFailure types activities raise, and which of them no retry can fix. Constants both sides share:
// activities throw them, workflows branch on them and name them in retry policies.

/** ApplicationFailure types raised by the activities; the non-retryable ones end the workflow with a clear message. */
export const ErrorTypes = {
  unknownProvider: 'UnknownProvider',
  missingApiKey: 'ProviderApiKeyMissing',
  auth: 'ProviderAuthFailed',
  notFound: 'BatchNotFound',
  invalidBatchId: 'InvalidBatchId',
  badRequest: 'ProviderBadRequest',
  rateLimited: 'ProviderRateLimited',
  server: 'ProviderServerError',
  network: 'ProviderUnreachable',
  invalidSubmission: 'InvalidSubmission',
  stagingChanged: 'StagingFileChanged',
  resultsMissing: 'ResultsMissing',
} as const;

export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  ErrorTypes.unknownProvider,
  ErrorTypes.missingApiKey,
  ErrorTypes.auth,
  ErrorTypes.notFound,
  ErrorTypes.invalidBatchId,
  ErrorTypes.badRequest,
  ErrorTypes.invalidSubmission,
  ErrorTypes.stagingChanged,
  ErrorTypes.resultsMissing,
];
