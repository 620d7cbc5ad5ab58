#!/usr/bin/env bash
# loadtest against wrk on the same target (Debian's nginx, 2 workers, `return 200 "ok"`), same
# threads and connections (1 thread; 64 and 256 connections), interleaved, three rounds:
# requests/s of each, the ratio loadtest/wrk, both tools' p50/p99, and CPU per request of each
# tool (utime+stime from /usr/bin/time). Then, at a fixed rate of half the measured maximum,
# loadtest's open-loop p50/p99 beside wrk's closed-loop figures at that load (wrk cannot hold a
# rate; wrk2 is not packaged).   Usage: Benchmarks/compare/loadtest.sh  (env: DURATION ROUNDS)
# BASELINE=<a previous commit's release loadtest>: it runs too, in the same rounds, and each
# round prints this build's throughput and CPU per request against it (A/B).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
PORT=${NGINX_PORT:-18093}
scripts/install-deps.sh --bench
swift build -c release --product loadtest >/dev/null
lt=.build/release/loadtest
work=$(mktemp -d)
source Benchmarks/compare/lib.sh
trap 'set +e; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$PORT reuseport; location / { return 200 "ok"; } }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
sleep 0.5
url="http://127.0.0.1:$PORT/"
cpu() { awk '{print $1 + $2}' "$1"; }
declare -A MAX
for c in 64 256; do
  echo "== $c connections, 1 thread, ${DURATION}s =="
  for r in $(seq 1 "$ROUNDS"); do
    /usr/bin/time -f "%U %S" -o "$work/wrk.time" wrk -t1 -c"$c" -d"${DURATION}s" --latency "$url" > "$work/wrk.out"
    /usr/bin/time -f "%U %S" -o "$work/lt.time" $lt run --url "$url" -t 1 -c "$c" -d "${DURATION}s" --json "$work/lt.json" > /dev/null
    if [ -n "${BASELINE:-}" ]; then
      /usr/bin/time -f "%U %S" -o "$work/base.time" "$BASELINE" run --url "$url" -t 1 -c "$c" -d "${DURATION}s" --json "$work/base.json" > /dev/null
      read -r b_rps b_req <<<"$(python3 -c "import json; d=json.load(open('$work/base.json')); print(d['rps'], d['requests'])")"
    fi
    w_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out"); w_p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out"); w_p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
    w_req=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    read -r l_rps l_p50 l_p99 l_req <<<"$(python3 -c "import json; d=json.load(open('$work/lt.json')); print(d['rps'], d['latency_ms']['p50'], d['latency_ms']['p99'], d['requests'])")"
    w_cpu=$(awk -v t="$(cpu "$work/wrk.time")" -v n="$w_req" 'BEGIN {printf "%.2f", t / n * 1e6}')
    l_cpu=$(awk -v t="$(cpu "$work/lt.time")" -v n="$l_req" 'BEGIN {printf "%.2f", t / n * 1e6}')
    echo "round $r: wrk $w_rps req/s (p50 $w_p50, p99 $w_p99, $w_cpu µs CPU/req)  loadtest $l_rps req/s (p50 ${l_p50}ms, p99 ${l_p99}ms, $l_cpu µs CPU/req)  throughput ratio $(awk -v a="$l_rps" -v b="$w_rps" 'BEGIN {printf "%.2f", a / b}')  CPU/req ratio $(awk -v a="$l_cpu" -v b="$w_cpu" 'BEGIN {printf "%.2f", a / b}')"
    if [ -n "${BASELINE:-}" ]; then
      read -r l_now_rps l_now_req <<<"$(python3 -c "import json; d=json.load(open('$work/lt.json')); print(d['rps'], d['requests'])")"
      echo "round $r A/B: baseline $b_rps req/s  this build/baseline throughput $(awk -v a="$l_now_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", a / b}')  CPU/req $(awk -v a="$(cpu "$work/lt.time")" -v n="$l_now_req" -v bt="$(cpu "$work/base.time")" -v bn="$b_req" 'BEGIN {printf "%.2f", (a / n) / (bt / bn)}')"
    fi
    MAX[$c]=$(awk -v a="$w_rps" -v b="${MAX[$c]:-0}" 'BEGIN {print (a > b) ? a : b}')
  done
done
echo
echo "== fixed rate: half of wrk's best at 64 connections =="
rate=$(awk -v m="${MAX[64]}" 'BEGIN {printf "%d", m / 2}')
$lt run --url "$url" -t 1 -c 64 -d "${DURATION}s" -R "$rate" --json "$work/open.json" > /dev/null
python3 -c "import json; d=json.load(open('$work/open.json')); print('loadtest -R $rate: achieved', round(d['rps']), 'req/s, p50', d['latency_ms']['p50'], 'ms, p99', d['latency_ms']['p99'], 'ms (from intended start)')"
