// Writes test/durations.json, the seconds each test file took, from a jest run's JSON report:
//   npm test -- --json --outputFile=/tmp/jest.json && tsx scripts/record-test-durations.ts /tmp/jest.json
// jest.sequencer.js starts the longest files first with it. Re-record when files are added or change much; the
// order only needs to be roughly right, so one run's numbers do.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface JestReport {
  testResults: { name: string; startTime: number; endTime: number }[];
}

const ROOT = join(__dirname, '..');
const report = process.argv[2];
if (!report) {
  console.error('usage: tsx scripts/record-test-durations.ts <jest --json output file>');
  process.exit(2);
}
/** `test/...` of a file's absolute path: the report may come from another checkout (a clean copy, CI's clone). */
function underRoot(path: string): string {
  const slashed = path.split('\\').join('/');
  const at = slashed.lastIndexOf('/test/');
  if (at < 0) throw new Error(`not under test/: ${path}`);
  return slashed.slice(at + 1);
}

const { testResults } = JSON.parse(readFileSync(report, 'utf8')) as JestReport;
const durations: Record<string, number> = Object.fromEntries(
  testResults
    .map((r): [string, number] => [underRoot(r.name), Math.round((r.endTime - r.startTime) / 100) / 10])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
const out = join(ROOT, 'test', 'durations.json');
writeFileSync(out, JSON.stringify(durations, null, 2) + '\n');
console.log(`wrote ${out}: ${testResults.length} files`);
