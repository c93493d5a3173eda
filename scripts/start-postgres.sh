#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the ledger tests, listening on 127.0.0.1 only, trust auth.
# Usage: eval "$(scripts/start-postgres.sh)"   (stdout carries only the export line; logs go to stderr)
# Env: BK_PG_PORT (default 54329), BK_PG_DATA (default /tmp/batchkeeper-pg-$BK_PG_PORT),
#      BK_PG_OS_USER (default postgres: initdb and postgres refuse to run as root),
#      BK_PG_MAX_CONNECTIONS (default 50; applied when the server is made afresh).
# Idempotent: a server already answering on the port is reused; otherwise $BK_PG_DATA is made afresh.
set -euo pipefail

PORT="${BK_PG_PORT:-54329}"
DATA="${BK_PG_DATA:-/tmp/batchkeeper-pg-$PORT}"
OS_USER="${BK_PG_OS_USER:-postgres}"
MAX_CONNECTIONS="${BK_PG_MAX_CONNECTIONS:-50}"
DB=batchkeeper_test
URL="postgres://postgres@127.0.0.1:$PORT/$DB"

log() { echo "start-postgres: $*" >&2; }

case "$DATA" in
  /?*/?*) ;;
  *) log "BK_PG_DATA must be an absolute path at least two levels deep (it gets deleted): $DATA"; exit 1 ;;
esac

find_bindir() {
  # The tests are written against 15 (Debian 12's default); any newer major installed also serves.
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

BIN="$(find_bindir || true)"
if [ -z "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "no PostgreSQL server binaries (initdb) found; install them: apt-get install -y postgresql"
    exit 1
  fi
  log "installing PostgreSQL (apt-get install -y postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bindir)" || { log "initdb still missing after apt-get install"; exit 1; }
fi

# Runs a server binary as the unprivileged OS user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$OS_USER" -- "$@"
  else
    "$@"
  fi
}

if [ "$(id -u)" -eq 0 ] && ! id "$OS_USER" >/dev/null 2>&1; then
  log "creating OS user $OS_USER"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OS_USER"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  log "a server already answers on 127.0.0.1:$PORT; reusing it"
else
  # Not answering: whatever is in $DATA is a leftover (a server killed with its session leaves a stale pid
  # file that a reused pid can make postgres refuse). Stop anything of it still alive, then start afresh.
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DATA"
  log "initdb $DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" -eq 0 ] && chown "$OS_USER": "$DATA"
  chmod 700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >&2
  # Throwaway data: durability settings off for speed; socket kept inside the data dir.
  cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = $MAX_CONNECTIONS
EOF
  log "starting postgres on 127.0.0.1:$PORT (log: $DATA/server.log)"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >&2 || {
    log "postgres did not start; last log lines:"
    tail -n 20 "$DATA/server.log" >&2 || true
    exit 1
  }
fi

exists="$("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$DB'")"
if [ "$exists" != "1" ]; then
  log "creating database $DB"
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi

echo "export BATCHKEEPER_TEST_DATABASE_URL=$URL"
