// Records the current workflow code's scenarios as frozen replay fixtures in
// test/fixtures/histories/v<package.json version>/. Run once when a version is released; it refuses to overwrite
// any file: a recorded history is what running workflows of that version look like, and stays as it is.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { WORKFLOW_IDS_FILE } from '../test/helpers/history-fixtures';
import { recordScenarios } from '../test/helpers/scenarios';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';

/** Histories above this are stored gzipped (a carried 3,000-event run is ~1.5 MB of JSON). */
const GZIP_ABOVE_BYTES = 256 * 1024;

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const dir = join(root, 'test', 'fixtures', 'histories', `v${version}`);
  if (existsSync(dir)) {
    console.error(
      `${dir} exists: fixtures of a released version are frozen. Bump the version in package.json to record new ones.`,
    );
    process.exit(1);
  }
  const env = await createTimeSkippingEnv();
  try {
    const scenarios = await recordScenarios(env, '', { all: true });
    mkdirSync(dir, { recursive: true });
    const ids: string[] = [];
    for (const s of scenarios) {
      const json = historyToJSON(s.history) + '\n';
      const big = Buffer.byteLength(json) > GZIP_ABOVE_BYTES;
      const file = join(dir, `${s.name}.json${big ? '.gz' : ''}`);
      if (existsSync(file)) throw new Error(`refusing to overwrite ${file}`);
      writeFileSync(file, big ? gzipSync(json, { level: 9 }) : json, { flag: 'wx' });
      ids.push(`${basename(file)}\t${s.workflowId}\n`);
      console.log(`wrote ${file} (${s.history.events?.length ?? 0} events)`);
    }
    writeFileSync(join(dir, WORKFLOW_IDS_FILE), ids.join(''), { flag: 'wx' });
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
