#!/usr/bin/env bash
# ann-bench beside hnswlib (PyPI hnswlib) and faiss (PyPI faiss-cpu, IndexHNSWFlat, inner product)
# on ../shared/data/minilm-gcide (64,000 all-MiniLM-L6-v2 embeddings, 384-d, cosine), all with
# M=16 and efConstruction=200, queries one at a time on one thread, in the same run. Prints each
# one's QPS at recall@10 0.90, 0.95 and 0.99 (interpolated between measured ef values) and the
# ratios, build time at 1 and 2 threads, and index memory. SCALE=1 adds the 1,000,000-vector run.
#
# Usage: Benchmarks/compare/ann.sh        (env: DATA=../shared/data/minilm-gcide REPEATS=3 SCALE=0 SMOKE=0)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/minilm-gcide}
REPEATS=${REPEATS:-3}
EF=${EF:-10,12,16,20,24,32,40,48,64,80,96,128,160,200,256}
out=$(mktemp -d)
trap 'set +e; rm -rf "$out"' EXIT

PY=$(scripts/python-env.sh numpy hnswlib faiss-cpu)
if [ "${SMOKE:-0}" = 1 ]; then
  # Smoke mode (CI): 4,000 generated 64-d vectors, two ef values, one pass.
  "$PY" Benchmarks/compare/make_clustered.py --count 4000 --queries 100 --dimension 64 --clusters 40 --out "$out/smoke" >/dev/null
  DATA="$out/smoke"; REPEATS=1; EF=16,64
fi
swift build -c release --product ann-bench >/dev/null
args=(--base "$DATA/base.fvecs" --queries "$DATA/queries.fvecs" --groundtruth "$DATA/groundtruth.ivecs" --m 16 --ef-construction 200)

echo "== query sweep (built with 2 threads; queries single-threaded, best of $REPEATS passes per ef)"
.build/release/ann-bench "${args[@]}" --metric cosine --threads 2 --ef "$EF" --repeats "$REPEATS" | tee "$out/ours-2.jsonl"
"$PY" Benchmarks/compare/ann_peers.py --library hnswlib "${args[@]}" --threads 2 --ef "$EF" --repeats "$REPEATS" | tee "$out/hnswlib-2.jsonl"
"$PY" Benchmarks/compare/ann_peers.py --library faiss "${args[@]}" --threads 2 --ef "$EF" --repeats "$REPEATS" | tee "$out/faiss-2.jsonl"
echo "== build with 1 thread"
.build/release/ann-bench "${args[@]}" --metric cosine --threads 1 --ef "" | tee "$out/ours-1.jsonl"
"$PY" Benchmarks/compare/ann_peers.py --library hnswlib "${args[@]}" --threads 1 --ef "" | tee "$out/hnswlib-1.jsonl"
"$PY" Benchmarks/compare/ann_peers.py --library faiss "${args[@]}" --threads 1 --ef "" | tee "$out/faiss-1.jsonl"

"$PY" - "$out" <<'PY'
import json, math, sys
out = sys.argv[1]
def load(name):
    rows = [json.loads(l) for l in open(f"{out}/{name}.jsonl") if l.strip()]
    return rows[0], [r for r in rows[1:] if "ef" in r]
def qps_at(points, target):
    pts = sorted(points, key=lambda r: r["ef"])
    for a, b in zip(pts, pts[1:]):
        if a["recall"] < target <= b["recall"]:
            t = (target - a["recall"]) / (b["recall"] - a["recall"])
            return math.exp(math.log(a["qps"]) + t * (math.log(b["qps"]) - math.log(a["qps"])))
    ok = [p["qps"] for p in pts if p["recall"] >= target]
    return max(ok) if ok else float("nan")
libs = ["ours", "hnswlib", "faiss"]
sweeps = {l: load(f"{l}-2") for l in libs}
builds1 = {l: load(f"{l}-1")[0] for l in libs}
print()
print("recall@10   ann-bench     hnswlib       faiss    ours/best-peer  ours/hnswlib  ours/faiss")
for target in (0.90, 0.95, 0.99):
    q = {l: qps_at(sweeps[l][1], target) for l in libs}
    best = max(q["hnswlib"], q["faiss"])
    print(f"  {target:.2f}   {q['ours']:9.0f}   {q['hnswlib']:9.0f}   {q['faiss']:9.0f}      {q['ours']/best:6.2f}x       {q['ours']/q['hnswlib']:6.2f}x     {q['ours']/q['faiss']:6.2f}x")
print()
print("build seconds   1 thread   2 threads")
for l in libs:
    print(f"  {l:9s}    {builds1[l]['seconds']:8.1f}   {sweeps[l][0]['seconds']:8.1f}")
print(f"  ours/hnswlib  {builds1['ours']['seconds']/builds1['hnswlib']['seconds']:7.2f}x  {sweeps['ours'][0]['seconds']/sweeps['hnswlib'][0]['seconds']:8.2f}x")
print()
print("index memory (resident after build, input freed)")
for l in libs:
    print(f"  {l:9s}  {sweeps[l][0]['rss_delta_bytes']/2**20:7.1f} MiB")
print(f"  ours/hnswlib  {sweeps['ours'][0]['rss_delta_bytes']/sweeps['hnswlib'][0]['rss_delta_bytes']:.2f}x   (ours, own accounting: {sweeps['ours'][0]['index_bytes']/2**20:.1f} MiB, {sweeps['ours'][0]['precision']}, kernels {sweeps['ours'][0]['kernels']})")
PY

if [ "${SCALE:-0}" = 1 ]; then
  echo
  echo "== scale: 1,000,000 generated clustered 128-d vectors (cosine), 2 threads to build, ef 64"
  "$PY" Benchmarks/compare/make_clustered.py --count 1000000 --queries 1000 --dimension 128 --out "$out/scale"
  .build/release/ann-bench --base "$out/scale/base.fvecs" --queries "$out/scale/queries.fvecs" --groundtruth "$out/scale/groundtruth.ivecs" \
    --metric cosine --m 16 --ef-construction 200 --threads 2 --ef 64
fi
