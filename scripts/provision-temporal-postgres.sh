#!/usr/bin/env bash
# Provisions a standalone Temporal server (the one scripts/start-temporal-postgres.sh runs against PostgreSQL) from
# the Go module proxy only (no internet needed):
#  - temporal-server      go.temporal.io/server/cmd/server
#  - temporal-sql-tool    go.temporal.io/server/cmd/tools/sql (creates databases, sets up and updates the schemas;
#                         the postgresql/v12 schemas are embedded in it, the same files as
#                         $(go env GOMODCACHE)/go.temporal.io/server@<version>/schema/postgresql/v12)
# Version v1.29.1 is the server the Temporal CLI v1.5.1 embeds (scripts/provision-temporal.sh), so the dev server and
# this one behave alike; its go.mod has no `replace` directive, so `go install module@version` works.
# Both binaries are cached outside the repo and reused when present (the first build takes minutes on 2 cores).
# Prints the env vars scripts/start-temporal-postgres.sh reads (eval-able); logs go to stderr.
set -euo pipefail

CACHE="${BATCHKEEPER_CACHE:-$HOME/.cache/batchkeeper}"
VERSION="${TEMPORAL_SERVER_VERSION:-v1.29.1}"
DIR="$CACHE/temporal-server-$VERSION"

log() { echo "[provision-temporal-postgres] $*" >&2; }

if [ -x "$DIR/temporal-server" ] && [ -x "$DIR/temporal-sql-tool" ]; then
  log "temporal server $VERSION cached at $DIR"
else
  command -v go >/dev/null || { log "go not found: install Go 1.25+ (the server's go.mod asks for go 1.25)"; exit 1; }
  log "building temporal server $VERSION and its SQL tool with go install (minutes on 2 cores)"
  rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
  GOBIN="$DIR.tmp" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
    "go.temporal.io/server/cmd/server@$VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$VERSION" >&2
  mv "$DIR.tmp/server" "$DIR.tmp/temporal-server"
  mv "$DIR.tmp/sql" "$DIR.tmp/temporal-sql-tool"
  rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
  log "built into $DIR"
fi

echo "export TEMPORAL_SERVER_PATH=$DIR/temporal-server"
echo "export TEMPORAL_SQL_TOOL_PATH=$DIR/temporal-sql-tool"
