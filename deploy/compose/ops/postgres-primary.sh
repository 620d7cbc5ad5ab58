#!/bin/sh
# PostgreSQL 15 primary: a cluster made on first start under the volume (the aiwriter role
# and database, a replication role), then the server in the foreground as PID 1's exec.
set -eu
BIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/data
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  printf 'host all all all scram-sha-256\nhost replication replicator all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  as_postgres psql -q -v ON_ERROR_STOP=1 -U postgres -d postgres <<SQL
CREATE ROLE aiwriter LOGIN PASSWORD '$POSTGRES_PASSWORD';
CREATE DATABASE aiwriter OWNER aiwriter;
CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$REPLICATION_PASSWORD';
SQL
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" \
  -c listen_addresses='*' -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on
