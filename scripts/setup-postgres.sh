#!/usr/bin/env bash
# Debian's PostgreSQL server for the SQL cell tests (tests/e2e/test_sql_postgres.py), which
# start a throw-away cluster of their own with initdb/pg_ctl in a temporary directory.
# No cluster is created or started here (createcluster.conf: create_main_cluster = false).
# Idempotent: when initdb is installed, this takes a few milliseconds and touches nothing.
set -euo pipefail

log() { printf '[setup-postgres %(%H:%M:%S)T] %s\n' -1 "$*"; }

for found in /usr/lib/postgresql/*/bin/initdb; do
  if [ -x "$found" ]; then
    log "postgresql present: $found"
    exit 0
  fi
done
command -v apt-get >/dev/null || { log "no initdb and no apt-get: install PostgreSQL by hand"; exit 1; }
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null || { log "apt-get needs root (or sudo) to install postgresql"; exit 1; }
  SUDO=sudo
fi
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
log "apt-get install postgresql"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confold postgresql >/dev/null
for found in /usr/lib/postgresql/*/bin/initdb; do log "installed: $found"; done
