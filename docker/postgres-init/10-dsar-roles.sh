#!/bin/sh
# The two database roles and the database (docker-compose.yml mounts this folder at
# /docker-entrypoint-initdb.d, so the postgres image runs it once, on an empty volume):
#   dsar_owner  owns the database and every table; only `migrate` and `grant_app_role` use it.
#   dsar_app    the web server and the workers; owns nothing, may only append to the audit
#               trail, and gets its rights from `manage.py grant_app_role dsar_app`.
# Neither is a superuser: an owner or a superuser could disable the audit trail's trigger.
# The names can be changed through DSAR_DB_OWNER, DSAR_DB_APP and DSAR_DB_NAME (the tests do).
set -eu

psql -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v owner="${DSAR_DB_OWNER:-dsar_owner}" \
    -v app="${DSAR_DB_APP:-dsar_app}" \
    -v dbname="${DSAR_DB_NAME:-dsar}" \
    -v owner_password="${DSAR_DB_OWNER_PASSWORD:?set DSAR_DB_OWNER_PASSWORD}" \
    -v app_password="${DSAR_DB_APP_PASSWORD:?set DSAR_DB_APP_PASSWORD}" \
    <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
-- NOINHERIT: should it ever be made a member of another role, it does not take its rights.
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
CREATE DATABASE :"dbname" OWNER :"owner";
\connect :"dbname"
-- Only the owner creates tables (already so on PostgreSQL 15 and later).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
