#!/usr/bin/env bash
# Every comparison script in smoke mode: one round of about a second per figure, the peers
# included (nginx, wrk, pgbench, COPY, hnswlib, faiss, a Chroma server, the LiteLLM proxy, nginx serving files), on small data. The figures mean
# nothing; what CI learns is that each script, each peer and each release binary still runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SMOKE=1 DURATION=1 ROUNDS=1 IDLE=500
for script in http tls ratelimit loadtest; do
  echo "---- $script.sh (smoke)"
  Benchmarks/compare/$script.sh
done
echo "---- storage.sh (smoke)"
Benchmarks/compare/storage.sh 1 1
echo "---- ann.sh (smoke)"
Benchmarks/compare/ann.sh
echo "---- collections.sh (smoke)"
Benchmarks/compare/collections.sh
echo "---- aiproxy.sh (smoke)"
Benchmarks/compare/aiproxy.sh
echo "---- documents.sh (smoke)"
Benchmarks/compare/documents.sh
echo "smoke: every comparison script ran"
