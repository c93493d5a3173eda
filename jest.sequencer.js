// Longest test files first: with parallel workers, a long file that starts last runs on alone while the other
// worker idles. The durations are recorded (test/durations.json, by scripts/record-test-durations.ts) rather
// than taken from jest's cache, so a fresh clone (CI) gets the same order. A file not in the list yet runs first,
// since it may be a long one.
const { relative } = require('node:path');
const recorded = require('./test/durations.json');

class LongestFirst {
  sort(tests) {
    const seconds = (test) =>
      recorded[relative(__dirname, test.path).split('\\').join('/')] ?? Number.POSITIVE_INFINITY;
    return [...tests].sort((a, b) => seconds(b) - seconds(a) || a.path.localeCompare(b.path));
  }

  // jest calls this after every run to update its own timings; the list above is updated on purpose instead.
  cacheResults() {}
}

module.exports = LongestFirst;
