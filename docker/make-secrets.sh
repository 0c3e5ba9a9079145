#!/bin/sh
# Makes the secrets docker/compose.yaml mounts, in docker/secrets/ (ignored by git), unless they exist:
#   api-token          the operators' Write token for the coordinators' API (Authorization: Bearer ...)
#   postgres-password  PostgreSQL's password (POSTGRES_PASSWORD_FILE)
#   pgpass             the same password for the coordinators, in libpq's pgpass format (Npgsql's Passfile)
#   tls/               remoting's mutual TLS: the cluster's CA (ca.crt; ca.key stays here) and a certificate
#                      and key per node (coordinator-1, coordinator-2, agent-1..3), by deploy/tls/make-test-ca.sh
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
if [ ! -s "$dir/tls/ca.crt" ]; then
  "$(dirname "$0")/../deploy/tls/make-test-ca.sh" "$dir/tls" coordinator-1 coordinator-2 agent-1 agent-2 agent-3 >/dev/null
  # Read through the bind mount by the coordinator's own user, as the other secrets are; ca.key is never mounted.
  chmod 0644 "$dir"/tls/coordinator-*.key "$dir"/tls/agent-*.key
fi
echo "secrets in $dir: api-token, postgres-password, pgpass, tls/"
