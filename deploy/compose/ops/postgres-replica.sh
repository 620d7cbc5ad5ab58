#!/bin/sh
# PostgreSQL 15 streaming replica: `pg_basebackup -R` from the primary on first start (retried
# until the primary takes it), then a hot standby in the foreground.
set -eu
BIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/data
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$REPLICATION_PASSWORD" setpriv --reuid=postgres --regid=postgres --init-groups \
      "$BIN/pg_basebackup" -h postgres -U replicator -D "$PGDATA" -R -X stream -c fast; do
    rm -rf "${PGDATA:?}"/*
    sleep 1
  done
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c hot_standby=on
