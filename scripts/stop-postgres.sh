#!/usr/bin/env bash
# Stops the throwaway PostgreSQL started by start-postgres.sh and deletes its data (BK_PG_KEEP=1 keeps it).
set -euo pipefail

PORT="${BK_PG_PORT:-54329}"
DATA="${BK_PG_DATA:-/tmp/batchkeeper-pg-$PORT}"
OS_USER="${BK_PG_OS_USER:-postgres}"

log() { echo "stop-postgres: $*" >&2; }

if [ ! -s "$DATA/PG_VERSION" ]; then
  log "no data directory at $DATA; nothing to stop"
  exit 0
fi

BIN="/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin"
if [ -f "$DATA/postmaster.pid" ]; then
  log "stopping postgres in $DATA"
  stop=("$BIN/pg_ctl" -D "$DATA" -m fast -w stop)
  [ "$(id -u)" -eq 0 ] && stop=(runuser -u "$OS_USER" -- "${stop[@]}")
  # A server that already died leaves a stale pid file: nothing left to stop then.
  "${stop[@]}" >&2 || log "pg_ctl stop failed (server not running?)"
fi

if [ "${BK_PG_KEEP:-}" != "1" ]; then
  rm -rf "$DATA"
  log "removed $DATA"
fi
