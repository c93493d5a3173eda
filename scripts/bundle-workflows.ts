// Pre-bundles the workflow code for production starts (the worker loads dist/workflow-bundle.js when present,
// instead of running webpack at every start).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { preloadModules } from '../src/worker/workflow-bundle-options';

async function main(): Promise<void> {
  const workflowsPath = require.resolve('../workflows');
  const { code } = await bundleWorkflowCode({ workflowsPath, preloadModules: preloadModules(workflowsPath) });
  const out = join(__dirname, '..', 'dist', 'workflow-bundle.js');
  mkdirSync(join(__dirname, '..', 'dist'), { recursive: true });
  writeFileSync(out, code);
  console.log(`wrote ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
