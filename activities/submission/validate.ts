import { mkdir, rm, stat } from 'node:fs/promises';
import { budgetWorkflowId } from '../../workflows/contract';
import { asApiError, classifyProviderError } from '../errors';
import { tokenBudgetFor, type ProviderRegistry, type TokenBudgetLimit } from '../providers';
import { requestTokens, tokenMethod, type TokenMethod } from '../tokens/estimate';
import { ProblemList, invalidSubmission } from './failures';
import { limitsFor, overrideProblems, type ProviderLimits } from './limits';
import { readLines } from './lines';
import { checkMetadata } from './metadata';
import { beat } from './progress';
import { ChunkWriter } from './split';
import { stagingDirFor } from './staging';
import type { ValidatedSubmission, ValidateSubmissionInput } from './types';
import { envelope, generatedId, readRequestLine } from './wrap';

export interface ValidateDeps {
  providers: ProviderRegistry;
  stagingDir: string;
}

/**
 * Validates a submission and writes the normalized staging chunks that get uploaded. Two streaming passes
 * over the source: the first checks every line and collects the explicit custom_ids (so ids generated for
 * bare bodies can avoid them), the second wraps, normalizes and splits. Memory: one Set of ids, never lines.
 * Idempotent: a retry removes the staging directory of the submission and writes the same bytes again.
 */
export async function validateSubmission(
  deps: ValidateDeps,
  input: ValidateSubmissionInput,
): Promise<ValidatedSubmission> {
  const profile = deps.providers.profile(input.provider);
  const limits = limitsFor(profile.kind, input.limits);
  const window = input.completionWindow ?? '24h';
  const problems = new ProblemList();
  for (const p of overrideProblems(profile.kind, input.limits)) problems.add(null, p.code, p.message);
  if (limits.endpoints !== 'any' && !limits.endpoints.includes(input.endpoint))
    problems.add(
      null,
      'unsupported_endpoint',
      `endpoint '${input.endpoint}' is not accepted by ${profile.kind} batches (${limits.endpoints.join(', ')})`,
    );
  const windowProblem = limits.checkWindow(window);
  if (windowProblem) problems.add(null, 'invalid_completion_window', windowProblem);
  checkMetadata(limits, input.metadata, input.submissionId.length, problems);

  const result: ValidatedSubmission = {
    ok: false,
    provider: input.provider,
    endpoint: input.endpoint,
    completionWindow: window,
    model: null,
    lines: 0,
    bytes: 0,
    wrapped: 0,
    defaultedModel: 0,
    chunks: [],
    inputFileId: null,
    problems: [],
    problemCount: 0,
    validatedAt: Math.floor(Date.now() / 1000),
  };
  let what: string;
  if ('fileId' in input.source) {
    what = `Input file ${input.source.fileId}`;
    await checkRemoteFile(deps, input.provider, input.source.fileId, limits, problems);
    if (problems.count === 0) result.inputFileId = input.source.fileId;
  } else {
    what = `Input file ${input.source.path}`;
    const path = input.source.path;
    const size = await stat(path).then(
      (s) => (s.isFile() ? s.size : null),
      () => null,
    );
    if (size === null) problems.add(null, 'source_not_found', `no readable file at ${path} on this worker`);
    else {
      const scan = await scanSource(path, size, input, limits, problems);
      result.lines = scan.lines;
      result.model = scan.model;
      const limit = tokenBudgetFor(profile, scan.model);
      const counting = limit ? tokenMethod(profile.kind, scan.model) : null;
      if (problems.count === 0) {
        const written = await writeStaging(deps, input, limits, scan.explicitIds, scan.model, size, counting);
        Object.assign(result, written);
      }
      if (limit && counting && problems.count === 0) {
        result.tokenBudget = tokenBudgetOf(input.provider, scan.model as string, limit, counting, result);
        for (const c of result.chunks)
          if ((c.tokens ?? 0) > limit.enqueuedTokens)
            problems.add(
              null,
              'part_exceeds_token_budget',
              `part ${c.index} (lines ${c.firstLine}-${c.lastLine}) has ~${c.tokens} input tokens (${counting}); ` +
                `the enqueued-token limit of ${input.provider} for ${scan.model} is ${limit.enqueuedTokens}: ` +
                'it could never be admitted (lower limits.maxLines, or raise tokenBudgets in the profile)',
            );
        // Nothing is uploaded for a submission with problems.
        if (problems.count > 0) result.chunks = [];
      }
    }
  }
  result.problems = problems.items;
  result.problemCount = problems.count;
  result.ok = problems.count === 0;
  if (!result.ok && input.failOnProblems !== false) throw invalidSubmission(problems, what);
  return result;
}

interface Scan {
  lines: number;
  model: string | null;
  explicitIds: Set<string>;
}

async function scanSource(
  path: string,
  size: number,
  input: ValidateSubmissionInput,
  limits: ProviderLimits,
  problems: ProblemList,
): Promise<Scan> {
  const ids = new Set<string>();
  let model: string | null = null;
  let modelLine = 0;
  let lines = 0;
  const progress = (bytesRead: number) => beat({ phase: 'validate', bytesRead, bytesTotal: size });
  for await (const line of readLines(path, limits.maxLineBytes, progress)) {
    if (line.text === null) {
      lines += 1;
      problems.add(
        line.lineNo,
        'line_too_large',
        `${line.bytes} bytes; the limit is ${limits.maxLineBytes} bytes a line`,
      );
      continue;
    }
    if (line.invalidUtf8) {
      lines += 1;
      problems.add(
        line.lineNo,
        'invalid_utf8',
        'not valid UTF-8 (JSONL is UTF-8; re-encode the file, e.g. from Latin-1 or Windows-1252)',
      );
      continue;
    }
    if (line.text.trim() === '') continue;
    lines += 1;
    const read = readRequestLine(line.text, input.endpoint);
    if (read.kind === 'problems') {
      for (const p of read.problems) problems.add(line.lineNo, p.code, p.message);
      continue;
    }
    if (read.customId !== null) {
      if (ids.has(read.customId))
        problems.add(
          line.lineNo,
          'duplicate_custom_id',
          `custom_id '${read.customId}' is used more than once`,
        );
      else ids.add(read.customId);
    }
    const lineModel = read.model ?? input.defaultModel ?? null;
    if (lineModel === null) {
      problems.add(line.lineNo, 'missing_model', 'body.model is missing and no defaultModel was given');
    } else if (model === null) {
      model = lineModel;
      modelLine = line.lineNo;
    } else if (lineModel !== model) {
      problems.add(
        line.lineNo,
        'model_mismatch',
        `model '${lineModel}' differs from '${model}' (line ${modelLine}); a batch uses one model`,
      );
    }
  }
  if (lines === 0) problems.add(null, 'empty_file', 'the file holds no requests');
  return { lines, model, explicitIds: ids };
}

async function writeStaging(
  deps: ValidateDeps,
  input: ValidateSubmissionInput,
  limits: ProviderLimits,
  taken: Set<string>,
  model: string | null,
  size: number,
  counting: TokenMethod | null,
): Promise<Pick<ValidatedSubmission, 'chunks' | 'bytes' | 'wrapped' | 'defaultedModel'>> {
  const path = (input.source as { path: string }).path;
  const dir = stagingDirFor(deps.stagingDir, input.submissionId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const writer = new ChunkWriter(dir, limits);
  let wrapped = 0;
  let defaultedModel = 0;
  const progress = (bytesRead: number) => beat({ phase: 'stage', bytesRead, bytesTotal: size });
  try {
    for await (const line of readLines(path, limits.maxLineBytes, progress)) {
      // The scan passed, so every non-blank line is a request; a change in between shows up here.
      if (line.text === null || line.text.trim() === '') continue;
      const read = readRequestLine(line.text, input.endpoint);
      if (read.kind === 'problems' || line.invalidUtf8)
        throw new Error(`${path} changed while it was being staged (line ${line.lineNo})`);
      const tokens = counting ? requestTokens(counting, input.endpoint, read.body) : undefined;
      if (read.customId !== null && read.model !== null) {
        await writer.write(line.text, line.lineNo, tokens);
        continue;
      }
      if (read.customId === null) wrapped += 1;
      if (read.model === null) defaultedModel += 1;
      const id = read.customId ?? generatedId(line.lineNo, taken);
      await writer.write(
        envelope(id, input.endpoint, read.body, read.model ?? (model as string)),
        line.lineNo,
        tokens,
      );
    }
    const chunks = await writer.close();
    return { chunks, bytes: chunks.reduce((n, c) => n + c.bytes, 0), wrapped, defaultedModel };
  } catch (e) {
    await writer.abort();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function checkRemoteFile(
  deps: ValidateDeps,
  provider: string,
  fileId: string,
  limits: ProviderLimits,
  problems: ProblemList,
): Promise<void> {
  const client = deps.providers.client(provider);
  try {
    const f = await client.files.retrieve(fileId);
    if (f.purpose && f.purpose !== 'batch')
      problems.add(
        null,
        'input_file_wrong_purpose',
        `file ${fileId} has purpose '${f.purpose}', not 'batch'`,
      );
    if (typeof f.bytes === 'number' && f.bytes > limits.maxBytes)
      problems.add(
        null,
        'input_file_too_large',
        `file ${fileId} is ${f.bytes} bytes; the limit is ${limits.maxBytes}`,
      );
  } catch (err) {
    if (asApiError(err)?.status === 404) {
      problems.add(null, 'input_file_not_found', `no file ${fileId} at provider '${provider}'`);
      return;
    }
    throw classifyProviderError(err, { provider, operation: `retrieve file ${fileId}` });
  }
}

function tokenBudgetOf(
  provider: string,
  model: string,
  limit: TokenBudgetLimit,
  method: TokenMethod,
  result: ValidatedSubmission,
): NonNullable<ValidatedSubmission['tokenBudget']> {
  return {
    budgetId: budgetWorkflowId(provider, model),
    model,
    limit: limit.enqueuedTokens,
    maxBatches: limit.maxBatches ?? null,
    method,
    tokens: result.chunks.reduce((n, c) => n + (c.tokens ?? 0), 0),
  };
}
