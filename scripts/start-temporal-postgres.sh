#!/usr/bin/env bash
# Starts a throwaway single-node Temporal server (v1.29.1, the one the dev server embeds) backed by PostgreSQL,
# for runs the SQLite dev server cannot carry (the scale benchmark at 10,000 workflows).
#   eval "$(scripts/start-temporal-postgres.sh)"     # stdout carries only export lines; logs go to stderr
#   ... TEMPORAL_ADDRESS is set: the worker and the CLI read it ...
#   scripts/stop-temporal-postgres.sh                 # same env as the start; stops both, deletes the data
# What it does: builds or reuses the server (scripts/provision-temporal-postgres.sh) and the CLI
# (scripts/provision-temporal.sh); starts PostgreSQL with scripts/start-postgres.sh on its own port and data dir;
# creates the databases temporal and temporal_visibility afresh (any previous content is dropped) and sets up their
# schemas with temporal-sql-tool; writes the server config (postgres12 plugin for both stores, so visibility is
# SQL advanced visibility and custom search attributes work); starts the server in its own session/process group;
# waits for the frontend; registers the namespace and batchkeeper's search attributes
# (workflows/contract/search-attributes.ts; the worker would also add them itself at start).
# Env:
#   BK_TEMPORAL_PG_PORT        frontend gRPC port (default 17233); the server also binds the next 8 ports
#                              (+1 frontend HTTP, +2..+4 history/matching/worker gRPC, +5..+8 membership)
#   BK_TEMPORAL_PG_DIR         run dir: config, server.log, server.pid (default /tmp/batchkeeper-temporal-$PORT)
#   BK_TEMPORAL_PG_PG_PORT     PostgreSQL port (default 54339; 54329 stays the ledger tests')
#   BK_TEMPORAL_PG_PG_DATA     PostgreSQL data dir (default /tmp/batchkeeper-temporal-pg-$PG_PORT; deleted on start
#                              when no server answers there, see start-postgres.sh)
#   BK_TEMPORAL_PG_SHARDS      history shards (default 4; the dev server runs 1)
#   BK_TEMPORAL_PG_NAMESPACE   namespace to register (default default), BK_TEMPORAL_PG_RETENTION (default 72h)
#   BK_TEMPORAL_PG_LOG_LEVEL   server log level (default warn)
# SQL visibility has fixed custom search attribute slots per namespace (Keyword 10, Int 3, Bool 3, ...):
# batchkeeper's 4 Keyword, 3 Int, 1 Bool fit, with no Int slot left.
# Idempotent: when the server of this run dir is alive and healthy, it is reused and the env lines are printed again.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${BK_TEMPORAL_PG_PORT:-17233}"
RUN="${BK_TEMPORAL_PG_DIR:-/tmp/batchkeeper-temporal-$PORT}"
PG_PORT="${BK_TEMPORAL_PG_PG_PORT:-54339}"
PG_DATA="${BK_TEMPORAL_PG_PG_DATA:-/tmp/batchkeeper-temporal-pg-$PG_PORT}"
SHARDS="${BK_TEMPORAL_PG_SHARDS:-4}"
NAMESPACE="${BK_TEMPORAL_PG_NAMESPACE:-default}"
RETENTION="${BK_TEMPORAL_PG_RETENTION:-72h}"
LOG_LEVEL="${BK_TEMPORAL_PG_LOG_LEVEL:-warn}"
ADDRESS="127.0.0.1:$PORT"

log() { echo "start-temporal-postgres: $*" >&2; }

case "$RUN" in
  /?*/?*) ;;
  *) log "BK_TEMPORAL_PG_DIR must be an absolute path at least two levels deep (it gets deleted): $RUN"; exit 1 ;;
esac

eval "$(bash scripts/provision-temporal-postgres.sh)"
if [ -z "${TEMPORAL_CLI_PATH:-}" ] || [ ! -x "$TEMPORAL_CLI_PATH" ]; then
  eval "$(bash scripts/provision-temporal.sh cli)"
fi
CLI="$TEMPORAL_CLI_PATH"

print_env() {
  local pg_pid
  pg_pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
  echo "export TEMPORAL_ADDRESS=$ADDRESS"
  echo "export TEMPORAL_NAMESPACE=$NAMESPACE"
  echo "export TEMPORAL_PG_SERVER_PID=$(cat "$RUN/server.pid")"
  echo "export TEMPORAL_PG_POSTGRES_PID=$pg_pid"
  echo "export TEMPORAL_PG_RUN_DIR=$RUN"
  log "server log: $RUN/server.log; stop with: BK_TEMPORAL_PG_PORT=$PORT BK_TEMPORAL_PG_PG_PORT=$PG_PORT scripts/stop-temporal-postgres.sh"
}

if [ -f "$RUN/server.pid" ] && kill -0 "$(cat "$RUN/server.pid")" 2>/dev/null \
  && "$CLI" operator cluster health --address "$ADDRESS" >/dev/null 2>&1; then
  log "a server of $RUN already answers on $ADDRESS; reusing it"
  print_env
  exit 0
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $(seq "$PORT" $((PORT + 8))); do
  port_free "$p" || { log "port $p is in use (the server needs $PORT..$((PORT + 8))); set BK_TEMPORAL_PG_PORT"; exit 1; }
done

# PostgreSQL: each Temporal service (frontend, history, matching, worker) opens its own pools.
BK_PG_PORT="$PG_PORT" BK_PG_DATA="$PG_DATA" BK_PG_MAX_CONNECTIONS="${BK_PG_MAX_CONNECTIONS:-200}" \
  bash scripts/start-postgres.sh >/dev/null
PG_BIN="/usr/lib/postgresql/$(cat "$PG_DATA/PG_VERSION")/bin"
psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }

rm -rf "$RUN"
mkdir -p "$RUN/config"

for db in temporal temporal_visibility; do
  log "creating database $db afresh"
  psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "CREATE DATABASE $db" >&2
done
sqltool() {
  "$TEMPORAL_SQL_TOOL_PATH" --ep 127.0.0.1 -p "$PG_PORT" -u postgres --pl postgres12 "$@" >>"$RUN/schema.log" 2>&1 || {
    log "temporal-sql-tool $* failed; last lines of $RUN/schema.log:"
    tail -n 20 "$RUN/schema.log" >&2
    exit 1
  }
}
log "setting up schemas (postgresql/v12, embedded in temporal-sql-tool; log: $RUN/schema.log)"
sqltool --db temporal setup-schema -v 0.0
sqltool --db temporal update-schema --schema-name postgresql/v12/temporal
sqltool --db temporal_visibility setup-schema -v 0.0
sqltool --db temporal_visibility update-schema --schema-name postgresql/v12/visibility

datastore() { # name db maxConns
  cat <<EOF
    $1:
      sql:
        pluginName: "postgres12"
        databaseName: "$2"
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: $3
        maxIdleConns: $3
        maxConnLifetime: "1h"
EOF
}
service() { # name grpcPort membershipPort [httpPort]
  echo "  $1:"
  echo "    rpc:"
  echo "      grpcPort: $2"
  echo "      membershipPort: $3"
  echo "      bindOnLocalHost: true"
  [ -n "${4:-}" ] && echo "      httpPort: $4"
  return 0
}
{
  cat <<EOF
log:
  stdout: true
  level: $LOG_LEVEL
  format: json

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: $SHARDS
  datastores:
EOF
  datastore postgres-default temporal 20
  datastore postgres-visibility temporal_visibility 10
  cat <<EOF

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
EOF
  service frontend "$PORT" $((PORT + 5)) $((PORT + 1))
  service history $((PORT + 2)) $((PORT + 6))
  service matching $((PORT + 3)) $((PORT + 7))
  service worker $((PORT + 4)) $((PORT + 8))
  cat <<EOF

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "$ADDRESS"
      httpAddress: "127.0.0.1:$((PORT + 1))"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "$RUN/config/dynamicconfig.yaml"
  pollInterval: "10s"
EOF
} >"$RUN/config/batchkeeper.yaml"

# The values `temporal server start-dev` (CLI v1.5.1) sets on top of the defaults, so runs compare like with like.
cat >"$RUN/config/dynamicconfig.yaml" <<EOF
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.persistenceMaxQPS:
  - value: 10000
history.persistenceMaxQPS:
  - value: 45000
history.hostLevelCacheMaxSize:
  - value: 8096
frontend.namespaceRPS.visibility:
  - value: 100
limit.maxIDLength:
  - value: 1000
EOF

log "starting temporal server on $ADDRESS (log: $RUN/server.log)"
# setsid: its own session and process group, so stop can signal the group and nothing dies with this shell.
setsid "$TEMPORAL_SERVER_PATH" --root "$RUN" --config config --env batchkeeper --allow-no-auth start \
  </dev/null >"$RUN/server.log" 2>&1 &
echo $! >"$RUN/server.pid"
SERVER_PID=$!

fail() {
  log "$1; last server log lines:"
  tail -n 30 "$RUN/server.log" >&2 || true
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  exit 1
}
wait_for() { # description timeoutSeconds command...
  local what="$1" deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited while waiting for $what"
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 1
  done
}

started=$SECONDS
wait_for "the frontend" 180 "$CLI" operator cluster health --address "$ADDRESS"
log "frontend healthy after $((SECONDS - started)) s"

log "registering namespace $NAMESPACE (retention $RETENTION)"
"$CLI" operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION" >&2
# The namespace registry refreshes every few seconds: wait until the frontend serves the namespace.
wait_for "namespace $NAMESPACE" 60 "$CLI" workflow list --address "$ADDRESS" --namespace "$NAMESPACE" --limit 1

# Name: 'Type', lines of SEARCH_ATTRIBUTES in workflows/contract/search-attributes.ts.
attrs="$(sed -n '/^export const SEARCH_ATTRIBUTES/,/^};/p' workflows/contract/search-attributes.ts \
  | sed -n "s/^ *\([A-Za-z0-9_]*\): '\([A-Za-z]*\)',\$/\1 \2/p")"
[ -n "$attrs" ] || fail "no search attributes parsed from workflows/contract/search-attributes.ts"
while read -r name type; do
  "$CLI" operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
    --name "$name" --type "$type" >/dev/null
done <<<"$attrs"
log "search attributes registered: $(echo "$attrs" | awk '{print $1}' | paste -sd, -)"
log "ready after $((SECONDS - started)) s from server start"

print_env
