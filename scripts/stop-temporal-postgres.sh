#!/usr/bin/env bash
# Stops what scripts/start-temporal-postgres.sh started (the Temporal server, then its PostgreSQL) and deletes the
# run dir and the database data (BK_TEMPORAL_PG_KEEP=1 keeps both). Reads the same env as the start script.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${BK_TEMPORAL_PG_PORT:-17233}"
RUN="${BK_TEMPORAL_PG_DIR:-/tmp/batchkeeper-temporal-$PORT}"
PG_PORT="${BK_TEMPORAL_PG_PG_PORT:-54339}"
PG_DATA="${BK_TEMPORAL_PG_PG_DATA:-/tmp/batchkeeper-temporal-pg-$PG_PORT}"

log() { echo "stop-temporal-postgres: $*" >&2; }

if [ -f "$RUN/server.pid" ]; then
  pid="$(cat "$RUN/server.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping temporal server (pid $pid, its process group)"
    # setsid made it a group leader: signal the group; fall back to the pid alone.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "still alive after 30 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    log "temporal server (pid $pid) is not running"
  fi
else
  log "no $RUN/server.pid; no temporal server to stop"
fi

BK_PG_PORT="$PG_PORT" BK_PG_DATA="$PG_DATA" BK_PG_KEEP="${BK_TEMPORAL_PG_KEEP:-}" bash scripts/stop-postgres.sh

if [ "${BK_TEMPORAL_PG_KEEP:-}" != "1" ] && [ -d "$RUN" ]; then
  case "$RUN" in
    /?*/?*) rm -rf "$RUN" && log "removed $RUN" ;;
  esac
fi
