import type { ResolvedOptions } from './options';
import type { BatchStore } from './store';
import { admitInOrder, tokenCounter } from './token-limit';
import type { BatchRec, ValidationResult } from './types';
import { validateInput } from './validate-input';

type ValidationOptions = Pick<
  ResolvedOptions,
  'maxLines' | 'maxFileBytes' | 'maxLineBytes' | 'enqueuedTokenLimit' | 'profile'
>;

/**
 * Under an enqueued-token limit a batch waits for its admission decision when its validation ends (token-limit.ts).
 * Not part of the state on disk (a function): attached again to every batch a restarted emulator restores.
 */
export function attachTokenLimit(rec: BatchRec, opts: ValidationOptions, batches: BatchStore): void {
  if (opts.enqueuedTokenLimit === undefined) return;
  rec.tokenLimit = opts.enqueuedTokenLimit;
  rec.admit = () => admitInOrder(rec, batches.all());
}

/**
 * Validates a batch's input in the background (never rejects) and records the result on the batch, in the
 * state dir too: a batch restored before its validation was recorded is validated again from its input file.
 */
export function startValidation(
  rec: BatchRec,
  opts: ValidationOptions,
  batches: BatchStore,
): Promise<ValidationResult> {
  attachTokenLimit(rec, opts, batches);
  return validateInput({
    path: rec.inputPath,
    endpoint: rec.endpoint,
    maxLines: opts.maxLines,
    maxFileBytes: opts.maxFileBytes,
    maxLineBytes: opts.maxLineBytes,
    failureRate: rec.failureRate,
    countTokens: opts.enqueuedTokenLimit === undefined ? undefined : tokenCounter(opts.profile),
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
