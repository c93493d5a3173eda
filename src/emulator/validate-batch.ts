import type { ResolvedOptions } from './options';
import type { BatchStore } from './store';
import type { BatchRec, ValidationResult } from './types';
import { validateInput } from './validate-input';

/**
 * Validates a batch's input in the background (never rejects) and records the result on the batch, in the
 * state dir too: a batch restored before its validation was recorded is validated again from its input file.
 */
export function startValidation(
  rec: BatchRec,
  opts: Pick<ResolvedOptions, 'maxLines' | 'maxFileBytes' | 'maxLineBytes'>,
  batches: BatchStore,
): Promise<ValidationResult> {
  return validateInput({
    path: rec.inputPath,
    endpoint: rec.endpoint,
    maxLines: opts.maxLines,
    maxFileBytes: opts.maxFileBytes,
    maxLineBytes: opts.maxLineBytes,
    failureRate: rec.failureRate,
  })
    .catch((e: unknown): ValidationResult => ({
      ok: false,
      errors: [
        {
          code: 'server_error',
          message: `Validation failed: ${(e as Error).message}`,
          param: null,
          line: null,
        },
      ],
    }))
    .then(async (r) => {
      rec.validated = r;
      // Best effort: without this write a restart validates again.
      await batches.save(rec).catch(() => undefined);
      return r;
    });
}
