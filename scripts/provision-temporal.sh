#!/usr/bin/env bash
# Provisions Temporal's servers from package registries only (no internet needed):
#  - the Java time-skipping test server from Maven Central, with an AppCDS archive
#  - the Temporal CLI (dev server + Web UI) built from the Go module proxy
# Both are cached outside the repo and reused when present.
# Prints the env vars the tests and the run command use (eval-able).
set -euo pipefail

CACHE="${BATCHKEEPER_CACHE:-$HOME/.cache/batchkeeper}"
TS_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.38.0}"
CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
what="${1:-all}"   # all | test-server | cli

log() { echo "[provision] $*" >&2; }

provision_test_server() {
  local dir="$CACHE/test-server-$TS_VERSION"
  local bin="$dir/temporal-test-server"
  if [ -x "$bin" ] && [ -f "$dir/ts.jsa" ]; then
    log "test server $TS_VERSION cached at $dir"
  else
    command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 1; }
    command -v mvn >/dev/null || { log "mvn not found: install Maven"; exit 1; }
    log "fetching temporal-test-server $TS_VERSION from Maven Central"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    cat > "$dir.tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.batchkeeper</groupId><artifactId>test-server-fetch</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>$TS_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
    (cd "$dir.tmp" && mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DoutputDirectory=lib -DincludeScope=runtime >&2)
    # The SDK kills the pid it started: the wrapper must exec java so no JVM is orphaned.
    cat > "$dir.tmp/temporal-test-server" <<'SH'
#!/bin/sh
DIR="$(cd "$(dirname "$0")" && pwd)"
CDS=""
[ -f "$DIR/ts.jsa" ] && CDS="-XX:SharedArchiveFile=$DIR/ts.jsa"
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto $CDS \
  -cp "$DIR/lib/*" io.temporal.testserver.TestServer "$@"
SH
    chmod +x "$dir.tmp/temporal-test-server"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    # AppCDS archive, built in place (CDS checks the class path it was built with):
    # start once, let it serve, stop it; the JVM writes the archive at exit.
    log "building AppCDS archive"
    local port=$((20000 + RANDOM % 20000))
    java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ArchiveClassesAtExit="$dir/ts.jsa" \
      -cp "$dir/lib/*" io.temporal.testserver.TestServer "$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 300); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    sleep 1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -s "$dir/ts.jsa" ] || { log "warning: no CDS archive written; the server still runs, only slower to start"; touch "$dir/ts.jsa"; }
  fi
  echo "export TEMPORAL_TEST_SERVER_PATH=$bin"
}

provision_cli() {
  local dir="$CACHE/temporal-cli-$CLI_VERSION"
  local bin="$dir/temporal"
  if [ -x "$bin" ]; then
    log "temporal CLI $CLI_VERSION cached at $bin"
  else
    command -v go >/dev/null || { log "go not found: install Go 1.24+"; exit 1; }
    log "building temporal CLI $CLI_VERSION with go install (minutes on 2 cores)"
    mkdir -p "$dir"
    GOBIN="$dir" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
      "github.com/temporalio/cli/cmd/temporal@$CLI_VERSION" >&2
  fi
  echo "export TEMPORAL_CLI_PATH=$bin"
}

case "$what" in
  test-server) provision_test_server ;;
  cli) provision_cli ;;
  all) provision_test_server; provision_cli ;;
  *) log "usage: $0 [all|test-server|cli]"; exit 2 ;;
esac
