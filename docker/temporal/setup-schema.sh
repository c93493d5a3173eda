#!/bin/sh
# One-shot (temporalio/admin-tools image): creates Temporal's two PostgreSQL databases and brings their schemas
# to the version this admin-tools image ships. Idempotent: on existing databases only the missing versioned
# steps run, so bumping the admin-tools tag together with the server tag is also how the schema is upgraded.
# Env: POSTGRES_SEEDS (host), DB_PORT, POSTGRES_USER, SQL_PASSWORD (read by temporal-sql-tool itself).
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

echo "temporal-schema: waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}"
tries=0
until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "temporal-schema: PostgreSQL did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done

sqltool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# database name : schema directory (the server's defaults for DBNAME and VISIBILITY_DBNAME)
for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  dir=${pair#*:}
  if out=$(sqltool --db "$db" create 2>&1); then
    echo "temporal-schema: created database $db"
  else
    case "$out" in
      *"already exists"*) echo "temporal-schema: database $db exists" ;;
      *)
        echo "$out" >&2
        echo "temporal-schema: cannot create database $db" >&2
        exit 1
        ;;
    esac
  fi
  sqltool --db "$db" setup-schema -v 0.0
  sqltool --db "$db" update-schema -d "$SCHEMA_ROOT/$dir/versioned"
done
echo "temporal-schema: schemas are up to date"
