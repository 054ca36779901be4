#!/bin/sh
# Run once by the postgres:15 image when it creates the database (docker-entrypoint-initdb.d):
# the ledger's group roles and the gateways' login role. `tollgate ledger migrate` (the migrate
# service, as the database owner) then grants tollgate_writer INSERT and SELECT on the ledger's
# tables — never UPDATE, DELETE or TRUNCATE — so a gateway cannot rewrite what it recorded.
# The password comes from the environment, never from a file in the repository. Running it
# again changes nothing but the password.
set -eu
: "${TOLLGATE_GATEWAY_DB_PASSWORD:?set TOLLGATE_GATEWAY_DB_PASSWORD}"
psql --no-psqlrc --variable ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-tollgate}" \
  --variable gateway_role="${TOLLGATE_GATEWAY_DB_USER:-tollgate_gateway}" \
  --variable gateway_password="$TOLLGATE_GATEWAY_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', r) FROM unnest(ARRAY['tollgate_writer', 'tollgate_auditor']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('CREATE ROLE %I LOGIN', :'gateway_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'gateway_role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'gateway_role', :'gateway_password') \gexec
SELECT format('GRANT tollgate_writer TO %I', :'gateway_role') \gexec
SQL
