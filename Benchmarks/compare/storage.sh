#!/usr/bin/env bash
# Store throughput beside PostgreSQL's own tools, on one server, in one run:
#   point reads by primary key: storage-bench --op point-read vs pgbench -S -M prepared -c C -j 2
#   batched vector upserts (384-d, 500 rows a batch): storage-bench rows/s vs COPY of the
#   same kind of rows through psql (\copy, text format, into a table shaped like records)
# and the SQLite backend's figures beside them. Interleaved rounds; ratios = ours / peer.
# Usage: Benchmarks/compare/storage.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
seconds=${2:-10}
work=$(mktemp -d /tmp/aiwriter-storage-bench.XXXXXX)
chmod 755 "$work"
port=${PG_PORT:-25440}  # below the ephemeral range (32768-60999), so no client socket holds it
trap 'set +e; scripts/postgres.sh stop "$work/pg"; rm -rf "$work"' EXIT

swift build -c release --product storage-bench >/dev/null
bench=.build/release/storage-bench
server=$(scripts/postgres.sh start "$work/pg" "$port")
base=${server%/postgres}
psql -q "$server" -c "CREATE DATABASE store" -c "CREATE DATABASE pgb"
# pgbench scale 1 = 100,000 accounts, the same as storage-bench's 100,000 documents.
pgbench -q -i -s 1 "$base/pgb" >/dev/null 2>&1
echo "filling the documents through the Store API…"
# Smoke mode (CI) fills 2,000 documents and upserts 2,000 rows: the figures mean nothing there.
documents=100000; rows=50000
if [ "${SMOKE:-0}" = 1 ]; then documents=2000; rows=2000; fi
$bench --database-url "$base/store" --connections 8 --seconds 1 --op point-read --documents "$documents" >/dev/null
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo
echo "== point reads (ops/s); ratio = storage-bench / pgbench =="
for c in 8 32; do
  for r in $(seq 1 "$rounds"); do
    pg=$(pgbench -n -S -M prepared -c "$c" -j 2 -T "$seconds" "$base/pgb" 2>/dev/null | awk '/tps = / {print $3; exit}')
    ours_json=$($bench --database-url "$base/store" --connections "$c" --seconds "$seconds" --op point-read --documents "$documents")
    ours=$(json_field "$ours_json" ops_per_s); p99=$(json_field "$ours_json" p99_ms)
    echo "C=$c round $r: pgbench $pg  storage-bench $ours (p99 $p99 ms)  ratio $(awk -v a="$ours" -v b="$pg" 'BEGIN {printf "%.2f", a / b}')"
  done
done

echo
echo "== the async Store API beside the callback one (point reads, C=8); ratio = async / callback =="
for r in $(seq 1 "$rounds"); do
  cb=$(json_field "$($bench --database-url "$base/store" --connections 8 --seconds "$seconds" --op point-read --documents "$documents")" ops_per_s)
  as=$(json_field "$($bench --database-url "$base/store" --connections 8 --seconds "$seconds" --op point-read --documents "$documents" --api async)" ops_per_s)
  echo "round $r: callback $cb  async $as  ratio $(awk -v a="$as" -v b="$cb" 'BEGIN {printf "%.2f", a / b}')"
done

echo
echo "== batched vector upserts, 384-d, 500 rows a batch (rows/s); ratio = storage-bench / COPY =="
python3 - "$work/rows.copy" "$rows" <<'PY'
import random, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
with open(path, "w") as f:
    for i in range(n):
        v = struct.pack("<384f", *[random.random() - 0.5 for _ in range(384)])
        f.write(f"1\tcopy-{i}\t\\\\x{v.hex()}\t{{\"batch\": {i // 500}}}\t\\N\t{i + 1}\n")
PY
psql -q "$base/store" -c "CREATE TABLE copy_target (LIKE records INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
for r in $(seq 1 "$rounds"); do
  psql -q "$base/store" -c "TRUNCATE copy_target"
  start=$(date +%s.%N)
  psql -q "$base/store" -c "\\copy copy_target FROM '$work/rows.copy'"
  end=$(date +%s.%N)
  copy_rate=$(awk -v n="$rows" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')
  ours_json=$($bench --database-url "$base/store" --connections 4 --seconds "$seconds" --op upsert-batch)
  ours=$(json_field "$ours_json" rows_per_s); p99=$(json_field "$ours_json" p99_ms)
  echo "round $r: COPY $copy_rate rows/s  storage-bench $ours rows/s (batch p99 $p99 ms)  ratio $(awk -v a="$ours" -v b="$copy_rate" 'BEGIN {printf "%.2f", a / b}')"
done

echo
echo "== SQLite backend (same workloads) =="
for c in 8 32; do
  echo "point-read C=$c: $($bench --data-dir "$work/sqlite" --connections "$c" --seconds "$seconds" --op point-read --documents "$documents")"
done
echo "upsert-batch C=4: $($bench --data-dir "$work/sqlite" --connections 4 --seconds "$seconds" --op upsert-batch)"
