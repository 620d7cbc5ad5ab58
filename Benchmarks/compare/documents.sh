#!/usr/bin/env bash
# Documents and static files beside nginx serving the same bytes, in one run.
#
# One folder: a 1 KiB and a 1 MiB file. nginx (2 workers, sendfile, open_file_cache) serves it;
# the gateway (release, 2 loops) serves it as `static-dir` and also holds a 1 KiB document,
# read through its cache (`GET /v1/documents/1` with a key: authentication, the key's limit,
# the cache on the embedded SQLite database). wrk, one thread, keep-alive, ROUNDS rounds in a
# rotating order, 64 connections (16 for the 1 MiB file, which is bandwidth-bound).
#   cached document GET vs nginx static 1 KiB     (target ≥ 0.8×: nginx is the ceiling for a keyed read)
#   static 1 KiB and 1 MiB vs nginx                (target ≥ 0.9×)
# A second gateway on a throwaway PostgreSQL (no Redis, so no document cache: every GET is a
# query) reads the same document beside pgbench running the statement the gateway prepares,
# `-M prepared`, on as many connections as the gateway's pool holds (2 loops × 8):
#   uncached document GET vs pgbench's SELECT     (target ≥ 0.9×, 16 connections each)
# Then Benchmarks/compare/files.sh: a 200 MB upload and download beside cp (RSS, throughput).
# BASELINE=path/to/aiwriter adds that binary (the previous commit's) serving the same folder, and
# reading the same PostgreSQL document, for an A/B of the static and uncached paths in the same run.
# Usage: Benchmarks/compare/documents.sh   (env: ROUNDS=3 DURATION=10 SMOKE=0 FILES=1 BASELINE=)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
if [ "${SMOKE:-0}" = 1 ]; then ROUNDS=1; DURATION=1; fi
GW_PORT=18281 NGX_PORT=18282 GW_PG_PORT=18283 BASE_PORT=18284 BASE_PG_PORT=18285 PG_PORT=${PG_PORT:-55450}
scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
bin=.build/release/aiwriter
work=$(mktemp -d)
trap 'set +e; kill $(cat "$work/gw.pid" "$work/gateway-pg.pid" "$work/baseline.pid" "$work/baseline-pg.pid" 2>/dev/null) 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null
  scripts/postgres.sh stop "$work/pg"; rm -rf "$work"' EXIT
source Benchmarks/compare/lib.sh
mkdir -p "$work/site"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$work/site/1k.txt"
head -c 1048576 /dev/urandom > "$work/site/1m.bin"
# nginx's workers run as nobody: the scratch folder must be readable to them.
chmod 755 "$work" "$work/site"; chmod 644 "$work/site/"*
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  sendfile on;
  open_file_cache max=100 inactive=60s;
  server {
    listen 127.0.0.1:$NGX_PORT reuseport;
    root $work/site;
  }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
export AIWRITER_DATA_DIR=$work/data
secret=$($bin keys create --tenant bench --role writer --rate 100000000/s --burst 100000000 | tail -1)
"$bin" serve --port $GW_PORT --loops 2 --log-level warning --static-dir "$work/site" 2>"$work/gateway.log" & echo $! > "$work/gw.pid"
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/healthz" && break; sleep 0.1; done
content=$(cat "$work/site/1k.txt")
curl -sf -o /dev/null -X POST "http://127.0.0.1:$GW_PORT/v1/documents" -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' \
  -d "{\"title\":\"bench\",\"content\":\"$content\",\"content_type\":\"text/plain\"}"
curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/v1/documents/1" -H "Authorization: Bearer $secret"
if [ -n "${BASELINE:-}" ]; then
  "$BASELINE" serve --data-dir "$work/baseline-data" --port $BASE_PORT --loops 2 --log-level warning --static-dir "$work/site" \
    2>"$work/baseline.log" & echo $! > "$work/baseline.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$BASE_PORT/healthz" && break; sleep 0.1; done
fi

# The uncached read on PostgreSQL.
server=$(scripts/postgres.sh start "$work/pg" "$PG_PORT")
psql -q "$server" -c "CREATE DATABASE docs"
pg_url=${server%/postgres}/docs
AIWRITER_DATABASE_URL=$pg_url AIWRITER_MIGRATE=true "$bin" migrate >/dev/null
pg_secret=$(AIWRITER_DATABASE_URL=$pg_url "$bin" keys create --tenant bench --role writer --rate 100000000/s --burst 100000000 | tail -1)
AIWRITER_DATABASE_URL=$pg_url "$bin" serve --port $GW_PG_PORT --loops 2 --database-pool-size 8 --document-cache off --log-level warning \
  2>"$work/gateway-pg.log" & echo $! > "$work/gateway-pg.pid"
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$GW_PG_PORT/healthz" && break; sleep 0.1; done
pg_doc=$(curl -sf -D - -o /dev/null -X POST "http://127.0.0.1:$GW_PG_PORT/v1/documents" -H "Authorization: Bearer $pg_secret" \
  -H 'Content-Type: application/json' -d "{\"title\":\"bench\",\"content\":\"$content\",\"content_type\":\"text/plain\"}" |
  tr -d '\r' | awk -F/ 'tolower($0) ~ /^location:/ {print $NF}')
pg_tenant=$(psql -qtA "$pg_url" -c "SELECT tenant_id FROM documents WHERE id = $pg_doc")
# The gateway's own statement (Store.selectDocument), its parameters bound the same way.
cat > "$work/select.sql" <<SQL
SELECT id, tenant_id, title, body, metadata, version, created_at, updated_at, content_type FROM documents WHERE tenant_id = :tenant AND id = :id;
SQL
curl -sf -o /dev/null "http://127.0.0.1:$GW_PG_PORT/v1/documents/$pg_doc" -H "Authorization: Bearer $pg_secret"
if [ -n "${BASELINE:-}" ]; then
  AIWRITER_DATABASE_URL=$pg_url "$BASELINE" serve --port $BASE_PG_PORT --loops 2 --database-pool-size 8 --document-cache off --log-level warning \
    2>"$work/baseline-pg.log" & echo $! > "$work/baseline-pg.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$BASE_PG_PORT/healthz" && break; sleep 0.1; done
fi
run_pgbench() {
  pgbench -n -M prepared -c 16 -j 2 -T "$DURATION" -D tenant="$pg_tenant" -D id="$pg_doc" -f "$work/select.sql" "$pg_url" 2>/dev/null |
    awk '/^tps = / {printf "%s - - -\n", $3; exit}'
}

for port in $GW_PORT $NGX_PORT; do
  cmp -s <(curl -s "http://127.0.0.1:$port/1m.bin") "$work/site/1m.bin" || { echo "the 1 MiB file from port $port differs" >&2; exit 1; }
done

# case → "server url connections [header]"
cases="nginx-1k gateway-static-1k gateway-document nginx-1m gateway-static-1m pgbench-select gateway-pg-document"
[ -n "${BASELINE:-}" ] && cases="$cases baseline-static-1k baseline-static-1m baseline-pg-document"
: > "$work/results.txt"
for r in $(seq 1 "$ROUNDS"); do
  order=$(echo $cases | tr ' ' '\n' | awk -v r="$r" '{a[NR]=$0} END {for (i=0;i<NR;i++) print a[(i+r-1)%NR+1]}')
  for c in $order; do
    case $c in
      nginx-1k) out=$(run_wrk nginx "http://127.0.0.1:$NGX_PORT/1k.txt" 64) ;;
      gateway-static-1k) out=$(run_wrk gateway "http://127.0.0.1:$GW_PORT/1k.txt" 64) ;;
      gateway-document) out=$(run_wrk gateway "http://127.0.0.1:$GW_PORT/v1/documents/1" 64 -H "Authorization: Bearer $secret") ;;
      nginx-1m) out=$(run_wrk nginx "http://127.0.0.1:$NGX_PORT/1m.bin" 16) ;;
      gateway-static-1m) out=$(run_wrk gateway "http://127.0.0.1:$GW_PORT/1m.bin" 16) ;;
      pgbench-select) out=$(run_pgbench) ;;
      baseline-static-1k) out=$(run_wrk baseline "http://127.0.0.1:$BASE_PORT/1k.txt" 64) ;;
      baseline-static-1m) out=$(run_wrk baseline "http://127.0.0.1:$BASE_PORT/1m.bin" 16) ;;
      baseline-pg-document) out=$(run_wrk baseline-pg "http://127.0.0.1:$BASE_PG_PORT/v1/documents/$pg_doc" 16 -H "Authorization: Bearer $pg_secret") ;;
      gateway-pg-document) out=$(run_wrk gateway-pg "http://127.0.0.1:$GW_PG_PORT/v1/documents/$pg_doc" 16 -H "Authorization: Bearer $pg_secret") ;;
    esac
    echo "$r $c $out" | tee -a "$work/results.txt"
  done
done
PY=$(scripts/python-env.sh numpy)
"$PY" - "$work/results.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
data = {}
for r, case, rps, p99, n, cpu in rows:
    data.setdefault(case, []).append(float(rps))
print("requests/s by round:")
for case, v in data.items():
    print(f"  {case:20} " + ", ".join(f"{x:.0f}" for x in v))
def ratio(a, b):
    return ", ".join(f"{x / y:.2f}" for x, y in zip(data[a], data[b]))
print("cached document / nginx 1 KiB (each round):", ratio("gateway-document", "nginx-1k"))
print("static 1 KiB / nginx (each round):", ratio("gateway-static-1k", "nginx-1k"))
print("static 1 MiB / nginx (each round):", ratio("gateway-static-1m", "nginx-1m"))
print("uncached document on PostgreSQL / pgbench SELECT (each round):", ratio("gateway-pg-document", "pgbench-select"))
if "baseline-static-1m" in data:
    print("A/B static 1 KiB, this binary / baseline (each round):", ratio("gateway-static-1k", "baseline-static-1k"))
    print("A/B static 1 MiB, this binary / baseline (each round):", ratio("gateway-static-1m", "baseline-static-1m"))
    print("A/B uncached document on PostgreSQL, this binary / baseline (each round):", ratio("gateway-pg-document", "baseline-pg-document"))
PY
if [ "${FILES:-1}" = 1 ]; then
  echo "---- files.sh"
  Benchmarks/compare/files.sh
fi
