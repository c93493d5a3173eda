#!/bin/sh
# Entry point of the stack's Grafana: refuses to start without an admin password from the environment, since
# Grafana would otherwise fall back to admin/admin on a port that BATCHKEEPER_BIND_ADDRESS may publish.
if [ -z "${GF_SECURITY_ADMIN_PASSWORD:-}" ]; then
  echo "grafana: set BATCHKEEPER_GRAFANA_ADMIN_PASSWORD (in the environment or .env) before starting the metrics profile" >&2
  exit 1
fi
exec /run.sh "$@"
