#!/usr/bin/env bash
# The gateway's collections beside a Chroma 1.5.9 server (`chroma run` from the PyPI package),
# same machine, same run: the shared 64k MiniLM base ingested over HTTP in batches of 1,000
# (cosine, M=16, efConstruction=200), recall@10 through each API, loadtest closed loop at 1, 8
# and 32 connections (a random query vector per request, Chroma's query route on both),
# restart to first answer, RSS. Then ann-bench's raw single-thread QPS at the gateway's
# default ef beside the gateway at one loop, for the cost of HTTP, JSON and auth.
#
# Usage: Benchmarks/compare/collections.sh   (env: DATA=../shared/data/minilm-gcide ROUNDS=3 DURATION=10 SMOKE=0
#        GATEWAY_EF=128: a second pass with the gateway's collection at that ef_search)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/minilm-gcide}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-1,8,32}
out=$(mktemp -d)
trap 'set +e; rm -rf "$out"' EXIT

PY=$(scripts/python-env.sh numpy chromadb==1.5.9)
CHROMA=$(dirname "$PY")/chroma
if [ "${SMOKE:-0}" = 1 ]; then
  # Smoke mode (CI): 3,000 generated 384-d vectors, one short round.
  "$PY" Benchmarks/compare/make_clustered.py --count 3000 --queries 100 --dimension 384 --clusters 30 --out "$out/smoke" >/dev/null
  DATA="$out/smoke"; ROUNDS=1; DURATION=1; CONNECTIONS=1,8
fi
swift build -c release --product aiwriter >/dev/null
swift build -c release --product loadtest >/dev/null
swift build -c release --product ann-bench >/dev/null

echo "== gateway (2 loops) and Chroma, $ROUNDS round(s), ${DURATION}s per connection count, both at ef_search 100"
"$PY" -W ignore Benchmarks/compare/collections_bench.py --data "$DATA" --gateway .build/release/aiwriter \
  --loadtest .build/release/loadtest --chroma "$CHROMA" --rounds "$ROUNDS" --duration "$DURATION" --connections "$CONNECTIONS"
if [ -n "${GATEWAY_EF:-}" ]; then
  echo
  echo "== the same with the gateway's collection at ef_search $GATEWAY_EF (Chroma at 100)"
  "$PY" -W ignore Benchmarks/compare/collections_bench.py --data "$DATA" --gateway .build/release/aiwriter \
    --loadtest .build/release/loadtest --chroma "$CHROMA" --rounds "$ROUNDS" --duration "$DURATION" --connections "$CONNECTIONS" \
    --gateway-ef "$GATEWAY_EF"
fi

echo
echo "== HTTP, JSON and auth against the raw index: gateway at 1 loop, 8 connections (loadtest on the other core) vs ann-bench, 1 thread, ef 100"
"$PY" -W ignore Benchmarks/compare/collections_bench.py --data "$DATA" --gateway .build/release/aiwriter \
  --loadtest .build/release/loadtest --chroma "$CHROMA" --rounds 1 --duration "$DURATION" --connections 8 --loops 1 --only gateway \
  | tee "$out/one-loop.txt"
.build/release/ann-bench --base "$DATA/base.fvecs" --queries "$DATA/queries.fvecs" --groundtruth "$DATA/groundtruth.ivecs" \
  --metric cosine --m 16 --ef-construction 200 --threads 2 --ef 100 --repeats 3 | tee "$out/ann.jsonl"
"$PY" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
http = [json.loads(l) for l in open(f"{out}/one-loop.txt") if l.startswith("{")][0]["qps_8"]
raw = [json.loads(l) for l in open(f"{out}/ann.jsonl") if '"ef"' in l][0]["qps"]
print(f"HTTP query QPS at 1 loop {http:.0f} / ann-bench 1 thread {raw:.0f} = {http / raw:.2f}x")
PY
