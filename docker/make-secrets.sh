#!/bin/sh
# Makes the secrets docker/compose.yaml mounts, in docker/secrets/ (ignored by git), unless they exist:
#   api-token          the operators' Write token for the coordinators' API (Authorization: Bearer ...)
#   postgres-password  PostgreSQL's password (POSTGRES_PASSWORD_FILE)
#   pgpass             the same password for the coordinators, in libpq's pgpass format (Npgsql's Passfile)
# The folder is the host's guard (0700); the files are 0644 because the coordinator reads them as
# its own user (uid 10001) through the bind mount, and Compose without Swarm does not chown secrets.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022
[ -s "$dir/api-token" ] || openssl rand -hex 32 > "$dir/api-token"
if [ ! -s "$dir/postgres-password" ]; then
  openssl rand -hex 24 > "$dir/postgres-password"
  rm -f "$dir/pgpass"
fi
[ -s "$dir/pgpass" ] || printf 'postgres:5432:replug:replug:%s\n' "$(cat "$dir/postgres-password")" > "$dir/pgpass"
echo "secrets in $dir: api-token, postgres-password, pgpass"
