// Frozen replay fixtures: histories recorded by released versions (test/fixtures/histories/README.md).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'fixtures', 'histories');
/**
 * Next to a version's histories (from v0.3.0): the workflow id each was recorded under, `<file>\t<id>` a line. A
 * history does not hold it, and a workflow whose commands depend on its own id (a submission knows the budget's
 * grants by holder ids made of it) replays only under that id.
 */
export const WORKFLOW_IDS_FILE = 'workflow-ids.tsv';

/** Every fixture (`.json`, or `.json.gz` for large ones) under the histories folder, relative, sorted. */
export function listHistoryFixtures(dir = HISTORIES_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.json') || name.endsWith('.json.gz')) out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

export function loadHistoryFixture(file: string, dir = HISTORIES_DIR): History {
  const raw = readFileSync(join(dir, file));
  const text = file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return historyFromJSON(JSON.parse(text));
}

/** The workflow id a fixture was recorded under, when its version wrote them down (see WORKFLOW_IDS_FILE). */
export function recordedWorkflowId(file: string, dir = HISTORIES_DIR): string | undefined {
  const ids = join(dir, dirname(file), WORKFLOW_IDS_FILE);
  if (!existsSync(ids)) return undefined;
  const name = basename(file);
  for (const line of readFileSync(ids, 'utf8').split('\n')) {
    const [fixture, workflowId] = line.split('\t');
    if (fixture === name && workflowId) return workflowId;
  }
  return undefined;
}
