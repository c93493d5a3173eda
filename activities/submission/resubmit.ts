import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { SubmissionErrorTypes } from './failures';
import { readLines } from './lines';
import { readManifest } from './manifest';
import { beat } from './progress';
import { resultsDirFor } from './staging';
import { classifyResultLine } from './summary';
import type { BuildResubmissionInput, BuildResubmissionResult } from './types';

const MAX_LINE_BYTES = 64 * 1024 * 1024;
export const RESUBMIT_FILE = 'resubmit.jsonl';

/**
 * Writes `<resultsDir>/<batchId>/resubmit.jsonl`: the input lines (verbatim, custom_ids kept so results
 * join back) whose request did not succeed. In 'retryable' mode, lines that failed for a reason a rerun
 * will not fix (400s, invalid content) are left out. Reads the downloaded results once to know each id's
 * outcome (a Map of at most 50k ids), then streams the input.
 */
export async function buildResubmission(
  deps: { resultsDir: string },
  input: BuildResubmissionInput,
): Promise<BuildResubmissionResult> {
  const dir = resultsDirFor(deps.resultsDir, input.batchId);
  const manifest = await readManifest(dir);
  if (!manifest)
    throw ApplicationFailure.nonRetryable(
      `No downloaded results for batch ${input.batchId} in ${dir}: run downloadResults first.`,
      SubmissionErrorTypes.resultsMissing,
    );
  const mode = input.mode ?? 'unsuccessful';
  // true: succeeded; false: failed for good; absent: never ran or retryable.
  const settled = new Map<string, boolean>();
  for (const f of manifest.files) {
    for await (const line of readLines(join(dir, f.name), MAX_LINE_BYTES)) {
      if (!line.text || line.text.trim() === '') continue;
      let r;
      try {
        r = classifyResultLine(JSON.parse(line.text));
      } catch {
        continue;
      }
      if (!r || settled.has(r.customId)) continue;
      if (r.outcome === 'succeeded') settled.set(r.customId, true);
      else if (mode === 'retryable' && r.outcome === 'failed' && !r.retryable) settled.set(r.customId, false);
    }
  }

  const path = join(dir, RESUBMIT_FILE);
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  const result: BuildResubmissionResult = {
    path,
    lines: 0,
    bytes: 0,
    skippedSucceeded: 0,
    skippedNonRetryable: 0,
  };
  try {
    for await (const line of readLines(input.inputPath, MAX_LINE_BYTES, (n) =>
      beat({ phase: 'resubmit', bytesRead: n }),
    )) {
      if (!line.text || line.text.trim() === '') continue;
      const id = customIdOf(line.text);
      const s = id === null ? undefined : settled.get(id);
      if (s === true) result.skippedSucceeded += 1;
      else if (s === false) result.skippedNonRetryable += 1;
      else {
        const data = `${line.text}\n`;
        result.lines += 1;
        result.bytes += Buffer.byteLength(data);
        if (!out.write(data)) await once(out, 'drain');
      }
    }
    out.end();
    await once(out, 'finish');
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  if (result.lines === 0) {
    await rm(tmp, { force: true });
    await rm(path, { force: true });
    return { ...result, path: null };
  }
  await rename(tmp, path);
  return result;
}

function customIdOf(text: string): string | null {
  try {
    const v = JSON.parse(text) as { custom_id?: unknown };
    return typeof v.custom_id === 'string' ? v.custom_id : null;
  } catch {
    return null;
  }
}
