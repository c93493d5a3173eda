import { ApplicationFailure } from '@temporalio/common';
import type { SubmissionProblem } from './types';

/** ApplicationFailure types raised by the submission activities (all non-retryable). */
export const SubmissionErrorTypes = {
  invalidSubmission: 'InvalidSubmission',
  stagingChanged: 'StagingFileChanged',
  resultsMissing: 'ResultsMissing',
} as const;

/** Problems kept in results and failure details: enough to fix a file, small enough for workflow history. */
export const MAX_PROBLEMS = 100;
const MAX_MESSAGE_CHARS = 300;

/** Keeps the first MAX_PROBLEMS problems and counts the rest. */
export class ProblemList {
  readonly items: SubmissionProblem[] = [];
  count = 0;

  add(line: number | null, code: string, message: string): void {
    this.count += 1;
    if (this.items.length < MAX_PROBLEMS) {
      const where = line === null ? '' : `line ${line}: `;
      this.items.push({ line, code, message: clip(`${where}${message}`, MAX_MESSAGE_CHARS) });
    }
  }
}

export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

export function invalidSubmission(problems: ProblemList, what: string): ApplicationFailure {
  const first = problems.items
    .slice(0, 5)
    .map((p) => `${p.code} (${p.message})`)
    .join('; ');
  const more = problems.count > 5 ? `; and ${problems.count - 5} more` : '';
  return ApplicationFailure.create({
    message: `${what} has ${problems.count} problem(s): ${first}${more}`,
    type: SubmissionErrorTypes.invalidSubmission,
    nonRetryable: true,
    details: [{ problems: problems.items, problemCount: problems.count }],
  });
}
