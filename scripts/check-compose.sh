#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine:
#   1. `config -q` on the file, and again with the optional profiles (`emulator`, `webhooks`, `metrics`);
#   2. every environment variable the worker reads (taken from the source, not from a list kept by hand) is set on
#      the `worker` service, unless allowlisted below with a reason; the same for the `webhooks` service;
#   3. the search attributes registered by docker/temporal/setup-namespace.sh are those of
#      workflows/contract/search-attributes.ts (names and types);
#   4. every image is pinned to a tag other than `latest`, and the worker has no container_name/host port
#      (so `--scale worker=N` works);
#   5. every published port binds to 127.0.0.1 by default (a clean environment plus .env.example), and
#      BATCHKEEPER_BIND_ADDRESS moves exactly the Temporal frontend, the Web UI, the webhook receiver, Prometheus and
#      Grafana, nothing else;
#   6. .env.example names exactly the variables the compose file interpolates, each with an empty value, and
#      docs/docker.md (or docs/webhooks.md, for the receiver's) documents each; .env stays out of git and of the
#      image build context;
#   7. the metrics profile: Prometheus scrapes the port the workers serve metrics on, and Grafana's admin password
#      comes from the environment, never from the file.
# Uses `docker-compose` (Debian package) or `docker compose`; installs the Debian package when neither is there and
# it runs as root. Never prints variable values (the host's API keys may be interpolated into the config).
# Usage: scripts/check-compose.sh [compose-file]     Exit 0 when all checks pass, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

FILE="${1:-docker-compose.yml}"
SERVICE=worker

# Variables the worker reads that the stack deliberately leaves unset (one line each: NAME reason).
ALLOWLIST="
BATCHKEEPER_LEDGER_PATH SQLite ledger file; the stack's ledger is PostgreSQL (BATCHKEEPER_DATABASE_URL).
BATCHKEEPER_PROVIDERS_FILE needs a file mounted into the container; the stack passes BATCHKEEPER_PROVIDERS (JSON).
BATCHKEEPER_PRICES_FILE optional cost estimates from a mounted file (docs/docker.md shows the override).
TEMPORAL_PROFILE Temporal TOML config profile; the stack configures the connection by TEMPORAL_ADDRESS/NAMESPACE.
TEMPORAL_API_KEY Temporal Cloud only; must stay unset on the local stack (even an empty value turns TLS on).
"

# The webhook receiver (`webhooks` service, profile `webhooks`): the variables its code reads, and its allowlist.
WEBHOOKS_SERVICE=webhooks
WEBHOOKS_SOURCES=(src/webhooks src/cli/commands/webhooks.ts src/config/providers.ts)
WEBHOOKS_ALLOWLIST="
BATCHKEEPER_PROVIDERS_FILE needs a file mounted into the container; the stack passes BATCHKEEPER_PROVIDERS (JSON).
"
# Optional profiles: every check renders the stack with all of them.
PROFILES=(--profile emulator --profile webhooks --profile metrics)

log() { echo "check-compose: $*"; }
fail=0
nproblems=0
problem() {
  echo "check-compose: FAIL: $*" >&2
  fail=1
  nproblems=$((nproblems + 1))
}

[ -f "$FILE" ] || {
  log "no such file: $FILE" >&2
  exit 1
}

# ---- a compose implementation ----
COMPOSE=()
find_compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  else
    return 1
  fi
}
if ! find_compose; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing docker-compose (apt-get install -y docker-compose)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq docker-compose >/dev/null 2>&1; then
      apt-get update -qq >/dev/null && apt-get install -y -qq docker-compose >/dev/null
    fi
  fi
  find_compose || {
    log "neither 'docker-compose' nor 'docker compose' is available, and it cannot be installed here" >&2
    log "install one (Debian/Ubuntu: sudo apt-get install docker-compose) and run again" >&2
    exit 1
  }
fi
log "using: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?'))"

# ---- 1. syntax and semantics ----
if "${COMPOSE[@]}" -f "$FILE" config -q; then
  log "ok: config -q"
else
  problem "'${COMPOSE[*]} -f $FILE config -q' failed"
fi
if "${COMPOSE[@]}" -f "$FILE" "${PROFILES[@]}" config -q; then
  log "ok: ${PROFILES[*]} config -q"
else
  problem "'${COMPOSE[*]} -f $FILE ${PROFILES[*]} config -q' failed"
fi
if [ "$fail" -ne 0 ]; then
  exit 1
fi

CONFIG="$("${COMPOSE[@]}" -f "$FILE" "${PROFILES[@]}" config 2>/dev/null)"

# Prints the block of one service (two-space indented under `services:`) from the normalized config.
service_block() {
  awk -v svc="$1" '
    /^[^ ]/ { in_services = ($0 ~ /^services:/); inside = 0; next }
    in_services && /^  [^ ]/ { inside = ($0 == "  " svc ":"); next }
    inside { print }
  ' <<<"$CONFIG"
}
WORKER_BLOCK="$(service_block "$SERVICE")"
[ -n "$WORKER_BLOCK" ] || {
  problem "no '$SERVICE' service in $FILE"
  exit 1
}

# Names of the variables set in a service block's environment (map form `KEY: value` or list form `- KEY=value`).
env_names() {
  awk '
    /^    environment:/ { env = 1; next }
    env && /^ {0,5}[^ ]/ { env = 0 }
    env && /^      [A-Za-z_][A-Za-z0-9_]*:/ { sub(/^ +/, ""); sub(/:.*/, ""); print; next }
    env && /^      - [A-Za-z_][A-Za-z0-9_]*(=|$)/ { sub(/^ +- /, ""); sub(/=.*/, ""); print }
  ' | sort -u
}
SET_VARS="$(env_names <<<"$WORKER_BLOCK")"

# Variables the given source files read by name.
vars_read_by() {
  {
    grep -rhoE '\benv\.(BATCHKEEPER|TEMPORAL)_[A-Z0-9_]+' "$@" | sed 's/^env\.//' || true
    grep -rhoE 'process\.env\.[A-Z][A-Z0-9_]*' "$@" | sed 's/^process\.env\.//' || true
    grep -rhoE "\benv\[['\"][A-Z][A-Z0-9_]*['\"]\]" "$@" | sed -E "s/^env\[['\"]//; s/['\"]\]$//" || true
  } | sort -u
}

# ---- 2. the worker's environment, derived from the source ----
SOURCES=(src/config src/worker)
[ -f src/cli/commands/worker.ts ] && SOURCES+=(src/cli/commands/worker.ts)
REQUIRED="$(
  {
    vars_read_by "${SOURCES[@]}"
    # API keys of the built-in provider profiles (their env var names).
    grep -hoE "apiKeyEnv: '[A-Z][A-Z0-9_]*'" activities/providers.ts | sed -E "s/^apiKeyEnv: '//; s/'$//"
    echo TEMPORAL_ADDRESS
    echo TEMPORAL_NAMESPACE
  } | sort -u
)"
ALLOWED="$(awk 'NF { print $1 }' <<<"$ALLOWLIST" | sort -u)"

missing=()
allowed_missing=()
while read -r var; do
  [ -n "$var" ] || continue
  if grep -qxF "$var" <<<"$SET_VARS"; then
    continue
  elif grep -qxF "$var" <<<"$ALLOWED"; then
    allowed_missing+=("$var")
  else
    missing+=("$var")
  fi
done <<<"$REQUIRED"

log "the worker reads $(wc -l <<<"$REQUIRED" | tr -d ' ') variables (from ${SOURCES[*]}, activities/providers.ts);" \
  "the $SERVICE service sets $(wc -l <<<"$SET_VARS" | tr -d ' ')"
for var in "${allowed_missing[@]}"; do
  log "  allowlisted, not set: $var: $(awk -v v="$var" '$1 == v { $1 = ""; sub(/^ /, ""); print }' <<<"$ALLOWLIST")"
done
if [ "${#missing[@]}" -gt 0 ]; then
  problem "the $SERVICE service does not set: ${missing[*]} (set them in $FILE, or allowlist them in $0 with a reason)"
else
  log "ok: every variable the worker reads is set or allowlisted"
fi
# Allowlisted BATCHKEEPER_* names the source no longer reads are stale. (TEMPORAL_* ones may be read only inside
# @temporalio/envconfig, which this script does not scan.)
while read -r var; do
  case "$var" in BATCHKEEPER_*) ;; *) continue ;; esac
  grep -qxF "$var" <<<"$REQUIRED" || problem "allowlisted $var is no longer read by the worker: remove it from $0"
done <<<"$ALLOWED"

# ---- 2b. the webhook receiver's environment, derived from its source the same way ----
WEBHOOKS_BLOCK="$(service_block "$WEBHOOKS_SERVICE")"
if [ -z "$WEBHOOKS_BLOCK" ]; then
  problem "no '$WEBHOOKS_SERVICE' service in $FILE (profile webhooks)"
else
  WEBHOOKS_SET="$(env_names <<<"$WEBHOOKS_BLOCK")"
  WEBHOOKS_REQUIRED="$( (
    vars_read_by "${WEBHOOKS_SOURCES[@]}"
    echo TEMPORAL_ADDRESS
    echo TEMPORAL_NAMESPACE
  ) | sort -u)"
  WEBHOOKS_ALLOWED="$(awk 'NF { print $1 }' <<<"$WEBHOOKS_ALLOWLIST" | sort -u)"
  missing=()
  while read -r var; do
    [ -n "$var" ] || continue
    grep -qxF "$var" <<<"$WEBHOOKS_SET" && continue
    grep -qxF "$var" <<<"$WEBHOOKS_ALLOWED" && continue
    missing+=("$var")
  done <<<"$WEBHOOKS_REQUIRED"
  if [ "${#missing[@]}" -gt 0 ]; then
    problem "the $WEBHOOKS_SERVICE service does not set: ${missing[*]} (set them in $FILE, or allowlist them in $0)"
  else
    log "ok: every variable the webhook receiver reads (${WEBHOOKS_SOURCES[*]}) is set or allowlisted"
  fi
  # The receiver verifies signatures; it never calls a provider, so it must not hold their keys.
  for key in $(grep -hoE "apiKeyEnv: '[A-Z][A-Z0-9_]*'" activities/providers.ts | sed -E "s/^apiKeyEnv: '//; s/'$//"); do
    grep -qxF "$key" <<<"$WEBHOOKS_SET" && problem "the $WEBHOOKS_SERVICE service gets the provider key $key: it needs none"
  done
fi

# ---- 3. search attributes ----
SA_SOURCE=workflows/contract/search-attributes.ts
SA_SCRIPT=docker/temporal/setup-namespace.sh
if [ -f "$SA_SOURCE" ]; then
  want="$(awk '/^export const SEARCH_ATTRIBUTES/ { on = 1; next } on && /^};/ { on = 0 } on' "$SA_SOURCE" |
    sed -nE "s/^ *([A-Za-z][A-Za-z0-9_]*): '([A-Za-z]+)',?$/\1 \2/p" | sort)"
  have="$(grep -oE -- '--name [A-Za-z][A-Za-z0-9_]* --type [A-Za-z]+' "$SA_SCRIPT" |
    awk '{ print $2, $4 }' | sort)"
  if [ -z "$want" ]; then
    problem "found no SEARCH_ATTRIBUTES entries in $SA_SOURCE (format changed?)"
  elif [ "$want" = "$have" ]; then
    log "ok: $SA_SCRIPT registers the $(wc -l <<<"$want" | tr -d ' ') search attributes of $SA_SOURCE"
  else
    problem "search attributes differ (< $SA_SOURCE, > $SA_SCRIPT):"
    diff <(echo "$want") <(echo "$have") | grep -E '^[<>]' >&2 || true
  fi
else
  log "skipped: $SA_SOURCE not found, search attributes not compared"
fi

# ---- 4. pinned images, scalable worker ----
while read -r image; do
  [ -n "$image" ] || continue
  case "$image" in
    batchkeeper:*) ;; # built from the Dockerfile
    *@sha256:*) ;;
    *:latest | *:latest@*) problem "image $image is not pinned (latest)" ;;
    */*:* | *:*) ;;
    *) problem "image $image has no tag" ;;
  esac
done < <(sed -nE 's/^    image: *//p' <<<"$CONFIG" | tr -d "'\"" | sort -u)
grep -qE '^    container_name:' <<<"$WORKER_BLOCK" && problem "the $SERVICE service has a container_name: it cannot scale"
grep -qE '^    ports:' <<<"$WORKER_BLOCK" && problem "the $SERVICE service publishes host ports: it cannot scale"

# ---- 5. published ports: loopback unless BATCHKEEPER_BIND_ADDRESS says otherwise ----
ENV_EXAMPLE=.env.example
# Services BATCHKEEPER_BIND_ADDRESS publishes (docs/docker.md); every other port stays on loopback whatever it says.
EXPOSABLE="temporal temporal-ui webhooks prometheus grafana"

# The normalized config of a clean environment (no host variables, .env.example instead of .env) plus "$@" as
# variables: what a fresh checkout gets, whatever this shell or a local .env sets.
clean_config() {
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$@" \
    "${COMPOSE[@]}" --env-file "$ENV_EXAMPLE" -f "$FILE" "${PROFILES[@]}" config 2>/dev/null
}
# One line per published port: service host_ip published target. Reads both normalized forms: compose v1's short
# strings (`- 127.0.0.1:8233:8080/tcp`) and compose v2's mappings (`host_ip:`, `published:`, `target:`). A port
# without a host address is published on every interface and prints as 0.0.0.0.
published_ports() {
  awk '
    function flush() {
      if (have) print svc, (ip == "" ? "0.0.0.0" : ip), (pub == "" ? "random" : pub), tgt
      have = 0; ip = ""; pub = ""; tgt = ""
    }
    function unquote(v) { gsub(/^[ "\047]+|[ "\047]+$/, "", v); return v }
    function scalar(v,   n, parts) {
      v = unquote(v); sub(/\/[a-z]+$/, "", v)
      n = split(v, parts, ":")
      tgt = parts[n]
      if (n >= 2) pub = parts[n - 1]
      if (n >= 3) { ip = v; sub(/:[^:]*:[^:]*$/, "", ip); gsub(/^\[|\]$/, "", ip) }
    }
    function field(line,   key, val) {
      sub(/^ *(- )?/, "", line)
      key = line; sub(/:.*/, "", key)
      val = line; sub(/^[^:]*: */, "", val); val = unquote(val)
      if (key == "host_ip") ip = val
      else if (key == "published") pub = val
      else if (key == "target") tgt = val
    }
    /^[^ ]/ { flush(); in_services = ($0 ~ /^services:/); inports = 0; next }
    !in_services { next }
    /^  [^ ]/ { flush(); svc = $1; sub(/:$/, "", svc); inports = 0; next }
    /^    ports:/ { flush(); inports = 1; next }
    inports && /^    [^ -]/ { flush(); inports = 0; next }
    inports && /^ *- / {
      flush(); have = 1
      if ($0 ~ /^ *- [a-z_]+:( |$)/) field($0); else { rest = $0; sub(/^ *- /, "", rest); scalar(rest) }
      next
    }
    inports && /^ +[a-z_]+:/ { field($0) }
    END { flush() }
  '
}

if [ ! -f "$ENV_EXAMPLE" ]; then
  problem "$ENV_EXAMPLE is missing (it documents the variables of the stack; the port checks read it)"
else
  before=$nproblems
  DEFAULT_PORTS="$(clean_config | published_ports)"
  SENTINEL=192.0.2.10 # TEST-NET-1: shows that the variable, not some other default, moves a port
  EXPOSED_PORTS="$(clean_config BATCHKEEPER_BIND_ADDRESS="$SENTINEL" | published_ports)"
  if [ -z "$DEFAULT_PORTS" ]; then
    problem "found no published ports in the normalized config (format changed?)"
  fi
  while read -r svc ip pub tgt; do
    [ -n "$svc" ] || continue
    [ "$ip" = 127.0.0.1 ] ||
      problem "$svc publishes port $pub (-> $tgt) on $ip by default: bind it to \${BATCHKEEPER_BIND_ADDRESS:-127.0.0.1} (or 127.0.0.1)"
  done <<<"$DEFAULT_PORTS"
  while read -r svc ip pub tgt; do
    [ -n "$svc" ] || continue
    if [[ " $EXPOSABLE " == *" $svc "* ]]; then
      [ "$ip" = "$SENTINEL" ] || problem "BATCHKEEPER_BIND_ADDRESS does not move $svc's port $pub (it stays on $ip)"
    else
      [ "$ip" = 127.0.0.1 ] || problem "BATCHKEEPER_BIND_ADDRESS moves $svc's port $pub to $ip: it must stay on loopback"
    fi
  done <<<"$EXPOSED_PORTS"
  for svc in $EXPOSABLE; do
    grep -q "^$svc " <<<"$DEFAULT_PORTS" || problem "$svc publishes no port (expected one bound to BATCHKEEPER_BIND_ADDRESS)"
  done
  [ "$nproblems" -eq "$before" ] &&
    log "ok: $(wc -l <<<"$DEFAULT_PORTS" | tr -d ' ') published ports bind to 127.0.0.1 by default;" \
      "BATCHKEEPER_BIND_ADDRESS moves only: $EXPOSABLE"
fi

# ---- 6. .env.example, the docs, and .env kept out of git and the image ----
if [ -f "$ENV_EXAMPLE" ]; then
  before=$nproblems
  interpolated="$(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$FILE" | sed 's/^\${//' | sort -u)"
  documented="$(sed -nE 's/^([A-Za-z_][A-Za-z0-9_]*)=.*/\1/p' "$ENV_EXAMPLE" | sort -u)"
  [ "$interpolated" = "$documented" ] || {
    problem "$ENV_EXAMPLE and $FILE differ in variables (< $FILE interpolates, > $ENV_EXAMPLE lists):"
    diff <(echo "$interpolated") <(echo "$documented") | grep -E '^[<>]' >&2 || true
  }
  # Names only: a value is never printed.
  with_value="$(sed -nE 's/^([A-Za-z_][A-Za-z0-9_]*)=.+/\1/p' "$ENV_EXAMPLE")"
  [ -z "$with_value" ] || problem "$ENV_EXAMPLE must leave every value empty; set: $(tr '\n' ' ' <<<"$with_value")"
  undocumented=()
  while read -r var; do
    [ -n "$var" ] || continue
    grep -qsF "\`$var\`" docs/docker.md docs/webhooks.md || undocumented+=("$var")
  done <<<"$interpolated"
  [ "${#undocumented[@]}" -eq 0 ] || problem "neither docs/docker.md nor docs/webhooks.md documents: ${undocumented[*]}"
  [ "$nproblems" -eq "$before" ] &&
    log "ok: $ENV_EXAMPLE lists the $(wc -l <<<"$interpolated" | tr -d ' ') variables of $FILE, all empty and documented"
fi
grep -qxF .env .dockerignore || problem ".dockerignore does not exclude .env (it would enter the image build context)"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git check-ignore -q .env || problem ".gitignore does not ignore .env"
  git check-ignore -q "$ENV_EXAMPLE" && problem ".gitignore ignores $ENV_EXAMPLE (it must be committed)"
fi

# ---- 7. the metrics profile: Prometheus scrapes the workers' metrics port; Grafana's password is not in the file ----
PROM_CONFIG=docker/prometheus/prometheus.yml
before=$nproblems
metrics_port="$(sed -nE "s/^      BATCHKEEPER_METRICS_PORT: *'?([0-9]+)'?$/\1/p" <<<"$WORKER_BLOCK")"
scrape_ports="$(sed -nE 's/^ +port: *([0-9]+) *$/\1/p' "$PROM_CONFIG" 2>/dev/null | sort -u)"
if [ -z "$metrics_port" ]; then
  problem "the $SERVICE service sets no BATCHKEEPER_METRICS_PORT: Prometheus has nothing to scrape"
elif [ "$scrape_ports" != "$metrics_port" ]; then
  problem "$PROM_CONFIG scrapes port(s) $(tr '\n' ' ' <<<"$scrape_ports")but the workers serve metrics on $metrics_port"
fi
grep -qE "names: \['$SERVICE'\]" "$PROM_CONFIG" 2>/dev/null ||
  problem "$PROM_CONFIG does not discover the '$SERVICE' replicas by DNS (dns_sd_configs names: ['$SERVICE'])"
grafana_password="$(grep -E '^ +GF_SECURITY_ADMIN_PASSWORD:' "$FILE" || true)"
if ! grep -qE '^ +GF_SECURITY_ADMIN_PASSWORD: \$\{[A-Z_]+:-\}$' <<<"$grafana_password"; then
  problem "grafana's GF_SECURITY_ADMIN_PASSWORD must come from a variable with an empty default (\${NAME:-}), never the file"
fi
[ "$nproblems" -eq "$before" ] &&
  log "ok: Prometheus scrapes the workers' metrics port $metrics_port; Grafana's admin password comes from the environment"

if [ "$fail" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "all checks passed"
