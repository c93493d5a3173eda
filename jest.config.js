/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  // A guard against a hung test, not a speed check. Files share the cores now, and replaying the histories
  // recorded on every path takes about 90 s alone on a busy 2-core machine: 120 s timed out when two ran at once.
  testTimeout: 300000,
  // Files run in parallel: each starts its own servers on free ports (a time-skipping server's clock is one
  // file's alone), works in its own temp dirs and has its own Postgres database. Two workers for 2 cores.
  maxWorkers: 2,
  testSequencer: '<rootDir>/jest.sequencer.js',
};
