// Frozen replay fixtures: histories recorded by released versions (test/fixtures/histories/README.md).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'fixtures', 'histories');

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
