import { bundleWorkflowCode } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preloadModules } from '../../src/worker/workflow-bundle-options';

const WORKFLOWS_DIR = join(__dirname, '..', '..', 'workflows');

/**
 * Bundling takes seconds: do it once per content of workflows/ and share it across test files. `dir` bundles
 * another tree instead, e.g. a released version's workflow code kept under test/fixtures. `preload: false` bundles
 * with every module evaluated once per run, the SDK's default (bench:workflow-memory compares the two).
 */
export async function workflowBundle(
  dir: string = WORKFLOWS_DIR,
  { preload = true }: { preload?: boolean } = {},
): Promise<{ code: string }> {
  // The options are part of the key: a bundle made with other ones must not be reused.
  const hash = createHash('sha256')
    .update(dir)
    .update(preload ? 'preloaded' : 'per-run');
  for (const f of readdirSync(dir).sort()) hash.update(f).update(readFileSync(join(dir, f)));
  const file = join(tmpdir(), `batchkeeper-workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (existsSync(file)) return { code: readFileSync(file, 'utf8') };
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve(dir),
    preloadModules: preload ? preloadModules(require.resolve(dir)) : [],
    logger: quietLogger,
  });
  writeFileSync(file, code);
  return { code };
}

const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
