#!/usr/bin/env bash
# Generation jobs end to end on PostgreSQL beside Celery on Redis, in one run (issue 15).
#
# Ours: JOBS no-op-model jobs (a zero-latency upstream: nginx answering a fixed streamed chat
# completion) queued through `POST /v1/generations` on a `serve` with no workers, then W
# `aiwriter worker` processes (SLOTS jobs each at once, 2 loops) started on the queue: each job
# is claimed with a lease, calls the model through the AI proxy's path, streams its deltas
# into the event log, and stores the answer as a document version in the unit that completes
# it — every outcome durable in PostgreSQL (fsync and synchronous_commit on, the defaults).
# Celery 5.5.3: JOBS no-op tasks queued with `delay()`, then W `celery worker` processes
# (prefork, CELERY_CONCURRENCY children each), Redis as broker and result backend (no
# persistence: its defaults here); Celery's defaults otherwise (early acks, prefetch 4).
# Both sides are measured from the first claim to the last completion, so start-up is not
# counted: jobs/s with 1 and 3 worker processes, claim-to-done p50/p99 (ms), ROUNDS rounds
# with the order of the two sides alternating. Ours is checked done exactly once per job (one
# document, one version each) before its figure counts.
# With BASELINE=PATH (an older aiwriter binary), its workers are measured on the same queue
# beside the current ones (the A/B of a change to the job path).
# Usage: Benchmarks/compare/jobs.sh  (env: ROUNDS=3 JOBS=5000 SLOTS=8 CELERY_CONCURRENCY=2 BASELINE= SMOKE=0)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-5000}
SLOTS=${SLOTS:-8}
CELERY_CONCURRENCY=${CELERY_CONCURRENCY:-2}
if [ "${SMOKE:-0}" = 1 ]; then ROUNDS=1; JOBS=300; fi
UP_PORT=18380 GW_PORT=18381 PG_PORT=18382 REDIS_PORT=18383
scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
bin=.build/release/aiwriter
work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}")
chmod 755 "$work"
cleanup() {
  set +e
  pkill -f "celery -A celery_noop" 2>/dev/null
  kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null
  nginx -c "$work/up.conf" -s stop 2>/dev/null
  redis-cli -p $REDIS_PORT shutdown nosave 2>/dev/null
  scripts/postgres.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

stream='data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there."},"finish_reason":null}]}\n\ndata: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\ndata: [DONE]\n\n'
cat > "$work/up.conf" <<NGINX
worker_processes 1;
pid $work/up.pid;
error_log $work/up-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$UP_PORT;
    location /v1/chat/completions { default_type text/event-stream; return 200 '$stream'; }
  }
}
NGINX
nginx -c "$work/up.conf"
url=$(scripts/postgres.sh start "$work/pg" $PG_PORT)
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --loglevel warning
if [ ! -x .venv-celery/bin/celery ]; then
  python3 -m venv .venv-celery >&2 && .venv-celery/bin/pip install -q 'celery[redis]==5.5.3' >&2
fi
PY=.venv-celery/bin/python
export BROKER="redis://127.0.0.1:$REDIS_PORT/0"

cat > "$work/gateway.yaml" <<YAML
ai-providers:
  - name: fake
    kind: openai
    base-url: "http://127.0.0.1:$UP_PORT/v1"
ai-models:
  - name: bench
    targets: ["fake/up"]
ai-cache: off
jobs-poll-interval: 20ms
log-level: warning
YAML
base=(--config "$work/gateway.yaml" --data-dir "$work/data" --database-url "$url")
"$bin" migrate "${base[@]}" >/dev/null
secret=$("$bin" keys create --tenant bench --role writer --rate 100000000/s --burst 100000000 --tokens-per-minute 1000000000000 "${base[@]}" | tail -1)
"$bin" serve "${base[@]}" --port $GW_PORT --jobs-workers 0 --loops 2 2>"$work/serve.log" & echo $! > "$work/gw.pid"
for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/healthz" && break; sleep 0.1; done

# ours W [BINARY] → "jobs_per_s p50 p99 succeeded attempts"
ours() {
  local first pids=() worker_bin=${2:-$bin}
  first=$(psql "$url" -At -c "SELECT COALESCE(max(id), 0) + 1 FROM jobs")
  "$PY" Benchmarks/compare/jobs_bench.py submit "http://127.0.0.1:$GW_PORT" "$secret" "$JOBS" 4 >/dev/null
  for i in $(seq 1 "$1"); do
    "$worker_bin" worker "${base[@]}" --jobs-workers "$SLOTS" --loops 2 2>>"$work/worker.log" & pids+=($!)
  done
  "$PY" Benchmarks/compare/jobs_bench.py ours "$url" "$first" "$JOBS"
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
}

# celery W → the same line
celery_side() {
  local pids=() times="$work/times-$RANDOM"
  mkdir -p "$times"
  redis-cli -p $REDIS_PORT flushall >/dev/null
  (cd Benchmarks/compare && "$OLDPWD/$PY" jobs_bench.py celery-enqueue "$JOBS" >/dev/null)
  for i in $(seq 1 "$1"); do
    (cd Benchmarks/compare && CELERY_TIMES="$times" exec "$OLDPWD/.venv-celery/bin/celery" -A celery_noop worker -P prefork \
      -c "$CELERY_CONCURRENCY" -n "w$i@%h" --without-gossip --without-mingle --without-heartbeat -l warning) \
      >>"$work/celery.log" 2>&1 & pids+=($!)
  done
  "$PY" Benchmarks/compare/jobs_bench.py celery "$times" "$JOBS"
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
}

echo "jobs=$JOBS slots=$SLOTS celery_concurrency=$CELERY_CONCURRENCY (jobs/s, claim-to-done ms)"
printf "%-6s %-8s %10s %8s %8s %10s %8s %8s %8s" round workers ours_jobs/s p50 p99 celery/s p50 p99 ratio
[ -n "${BASELINE:-}" ] && printf " %10s %8s %8s %8s" before/s p50 p99 ab
echo
for r in $(seq 1 "$ROUNDS"); do
  for w in 1 3; do
    b=""
    if [ $(( (r + w) % 2 )) = 0 ]; then
      a=$(ours "$w"); c=$(celery_side "$w"); [ -n "${BASELINE:-}" ] && b=$(ours "$w" "$BASELINE")
    else
      [ -n "${BASELINE:-}" ] && b=$(ours "$w" "$BASELINE"); c=$(celery_side "$w"); a=$(ours "$w")
    fi
    read -r ar ap50 ap99 _ _ <<<"$a"
    read -r cr cp50 cp99 _ _ <<<"$c"
    printf "%-6s %-8s %10s %8s %8s %10s %8s %8s %8s" "$r" "$w" "$ar" "$ap50" "$ap99" "$cr" "$cp50" "$cp99" \
      "$(awk -v a="$ar" -v c="$cr" 'BEGIN {printf "%.2f", a / c}')"
    if [ -n "$b" ]; then
      read -r br bp50 bp99 _ _ <<<"$b"
      printf " %10s %8s %8s %8s" "$br" "$bp50" "$bp99" "$(awk -v a="$ar" -v b="$br" 'BEGIN {printf "%.2f", a / b}')"
    fi
    echo
  done
done
