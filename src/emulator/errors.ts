import type { FastifyReply } from 'fastify';

/** An error that becomes the provider's JSON error body: `{"error":{message,type,param,code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code: string | null = null,
): ApiError => new ApiError(400, message, code, 'invalid_request_error', param);

export const notFound = (message: string, code: string): ApiError =>
  new ApiError(404, message, code, 'invalid_request_error', null);

export const unauthorized = (): ApiError =>
  new ApiError(
    401,
    'Incorrect API key provided. You can find your API key in your emulator settings (default: sk-emulator).',
    'invalid_api_key',
  );

export function sendApiError(reply: FastifyReply, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  return reply.code(err.status).type('application/json').send(err.body());
}

/** Maps fastify/multipart/unknown errors onto the provider's shape so the SDK classifies them correctly. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 500) {
    return new ApiError(
      status,
      'The server had an error while processing your request. Sorry about that!',
      null,
      'server_error',
    );
  }
  if (e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return new ApiError(
      413,
      'File is too large to upload.',
      'file_too_large',
      'invalid_request_error',
      'file',
    );
  }
  const message =
    e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    err instanceof SyntaxError
      ? `We could not parse the JSON body of your request. (${e.message ?? 'invalid JSON'})`
      : (e.message ?? 'Bad request');
  return new ApiError(status, message, e.code ?? null, 'invalid_request_error');
}
