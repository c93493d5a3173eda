import { bundleWorkflowCode } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
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
  for (const f of sourceFiles(dir)) hash.update(relative(dir, f)).update(readFileSync(f));
  const file = join(tmpdir(), `batchkeeper-workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (existsSync(file)) return { code: readFileSync(file, 'utf8') };
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve(dir),
    preloadModules: preload ? preloadModules(require.resolve(dir)) : [],
    logger: quietLogger,
  });
  // Written under a name of this process and renamed: parallel jest workers may bundle at the same time.
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, code);
  renameSync(partial, file);
  return { code };
}

/** Every file under dir (its folders included), sorted: the bundle's cache key covers the whole tree. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sourceFiles(path) : [path];
    });
}

const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
