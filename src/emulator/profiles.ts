import { badRequest } from './errors';
import type { ProfileName } from './types';

export interface Profile {
  name: ProfileName;
  endpoints: readonly string[];
  /** Value of an unset timestamp on the batch object: OpenAI shows null, DashScope shows 0. */
  unsetTimestamp: null | 0;
  batchUsage: boolean;
  notFoundCode: string;
  defaultMaxFileBytes: number;
  defaultMaxLineBytes: number | undefined;
  /** Returns the window in seconds or throws a 400. */
  parseWindow(window: string): number;
  checkMetadata(metadata: Record<string, string>): void;
}

const MB = 1024 * 1024;

function checkGenericMetadata(metadata: Record<string, string>): void {
  const entries = Object.entries(metadata);
  if (entries.length > 16)
    throw badRequest(`metadata can hold at most 16 pairs, got ${entries.length}.`, 'metadata');
  for (const [k, v] of entries) {
    if (k.length > 64)
      throw badRequest(`metadata key '${k.slice(0, 20)}...' is longer than 64 characters.`, 'metadata');
    if (v.length > 512)
      throw badRequest(`metadata value for '${k}' is longer than 512 characters (${v.length}).`, 'metadata');
  }
}

export const PROFILES: Record<ProfileName, Profile> = {
  openai: {
    name: 'openai',
    endpoints: ['/v1/chat/completions', '/v1/embeddings', '/v1/responses', '/v1/completions'],
    unsetTimestamp: null,
    batchUsage: true,
    notFoundCode: 'not_found',
    defaultMaxFileBytes: 200 * MB,
    defaultMaxLineBytes: undefined,
    parseWindow(window) {
      if (window !== '24h')
        throw badRequest(
          `Invalid completion_window '${window}': only '24h' is supported.`,
          'completion_window',
          'invalid_value',
        );
      return 24 * 3600;
    },
    checkMetadata: checkGenericMetadata,
  },
  dashscope: {
    name: 'dashscope',
    endpoints: ['/v1/chat/completions', '/v1/embeddings'],
    unsetTimestamp: 0,
    batchUsage: false,
    notFoundCode: 'resource_not_found',
    defaultMaxFileBytes: 500 * MB,
    defaultMaxLineBytes: 6 * MB,
    parseWindow(window) {
      // DashScope takes whole hours (or days) between 24h and 336h (14 days).
      const m = /^(\d+)([hd])$/.exec(window);
      const hours = m ? Number(m[1]) * (m[2] === 'd' ? 24 : 1) : NaN;
      if (!(hours >= 24 && hours <= 336))
        throw badRequest(
          `Invalid completion_window '${window}': use whole hours from 24h to 336h (or 1d to 14d).`,
          'completion_window',
          'invalid_value',
        );
      return hours * 3600;
    },
    checkMetadata(metadata) {
      checkGenericMetadata(metadata);
      if ((metadata.ds_name ?? '').length > 100)
        throw badRequest('metadata.ds_name is longer than 100 characters.', 'metadata.ds_name');
      if ((metadata.ds_description ?? '').length > 200)
        throw badRequest('metadata.ds_description is longer than 200 characters.', 'metadata.ds_description');
    },
  },
};
