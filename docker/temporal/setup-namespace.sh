#!/bin/sh
# One-shot (temporalio/admin-tools image): once the server is healthy, creates the namespace if it is missing and
# registers batchkeeper's search attributes on it. Safe to re-run: an existing namespace is left alone and
# attributes that already exist with the same type are accepted; one with a different type is an error.
# The attribute list must match SEARCH_ATTRIBUTES in workflows/contract/search-attributes.ts (scripts/check-compose.sh
# compares them). SQL visibility has 10 Keyword, 3 Int and 3 Bool slots per namespace: the 3 Ints are all used.
# Env: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE_RETENTION (e.g. 168h).
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
NS="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-168h}"

log() { echo "temporal-setup: $*"; }

# Resolve the host to IPv4 first, as Temporal's own compose samples do: the CLI's gRPC dialer can otherwise try
# an address the server does not listen on.
host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}
ip=$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 { print $1 }' || true)
ADDR="${ip:-$host}:$port"

log "waiting for the Temporal server at $TEMPORAL_ADDRESS ($ADDR)"
tries=0
until temporal operator cluster health --address "$ADDR" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then
    log "the server did not report SERVING within 180 s" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$ADDR" --namespace "$NS" >/dev/null 2>&1; then
  log "namespace $NS exists"
else
  log "creating namespace $NS (retention $RETENTION)"
  temporal operator namespace create --address "$ADDR" --namespace "$NS" --retention "$RETENTION" \
    --description "batchkeeper"
fi

# A new namespace reaches the frontend's cache after a few seconds: retry until the attributes are accepted.
tries=0
while :; do
  if out=$(temporal operator search-attribute create --address "$ADDR" --namespace "$NS" \
    --name BatchId --type Keyword \
    --name BatchStatus --type Keyword \
    --name BatchProvider --type Keyword \
    --name BatchEndpoint --type Keyword \
    --name BatchRequestsTotal --type Int \
    --name BatchRequestsCompleted --type Int \
    --name BatchRequestsFailed --type Int \
    --name BatchCancelRequested --type Bool 2>&1); then
    log "search attributes registered on $NS"
    break
  fi
  case "$out" in
    *"different type"*)
      echo "$out" >&2
      log "a search attribute exists with another type: remove it or use another namespace" >&2
      exit 1
      ;;
    *"already exists"* | *"already registered"*)
      log "search attributes already registered on $NS"
      break
      ;;
  esac
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "$out" >&2
    log "could not register the search attributes" >&2
    exit 1
  fi
  sleep 2
done
temporal operator search-attribute list --address "$ADDR" --namespace "$NS" | grep -E '^ *Batch(Id|Status|Provider|Endpoint|Requests|Cancel)' || true
log "done"
