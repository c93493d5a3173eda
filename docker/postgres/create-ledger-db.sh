#!/bin/sh
# One-shot (postgres image): creates the role and database of batchkeeper's billing ledger on the stack's
# PostgreSQL if they are missing, and (re)sets the role's password. The worker creates its own tables
# (CREATE TABLE IF NOT EXISTS) on start. Safe to re-run; works on a fresh volume and on one that predates it.
# Env: PGHOST, PGPORT, PGUSER, PGPASSWORD (an admin login), BATCHKEEPER_DB_NAME, BATCHKEEPER_DB_USER,
#      BATCHKEEPER_DB_PASSWORD.
set -eu

: "${BATCHKEEPER_DB_NAME:=batchkeeper}"
: "${BATCHKEEPER_DB_USER:=batchkeeper}"
: "${BATCHKEEPER_DB_PASSWORD:?BATCHKEEPER_DB_PASSWORD must be set}"

tries=0
until pg_isready -q; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "ledger-db: PostgreSQL at ${PGHOST:-localhost} did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --dbname postgres \
  -v db="$BATCHKEEPER_DB_NAME" -v usr="$BATCHKEEPER_DB_USER" -v pw="$BATCHKEEPER_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'usr')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'usr') \gexec
ALTER ROLE :"usr" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'usr')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT ALL ON DATABASE :"db" TO :"usr";
SQL
echo "ledger-db: database $BATCHKEEPER_DB_NAME (owner $BATCHKEEPER_DB_USER) is ready"
