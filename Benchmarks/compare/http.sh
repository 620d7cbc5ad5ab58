#!/usr/bin/env bash
# The gateway's /healthz against nginx's `return 200 "ok"` on loopback, measured in the same run:
# both with 2 workers/loops, driven by the same wrk (same threads, 10 s, 64 and 256 connections),
# interleaved A B A B for three rounds. Prints requests/s, p99 and requests per server
# CPU-second (utime+stime of the server's processes from /proc over the run), the ratios
# gateway/nginx per round, then the memory cost of 10,000 idle keep-alive connections.
#
# Usage: Benchmarks/compare/http.sh            (env: DURATION=10 ROUNDS=3 WRK_THREADS=1 IDLE=10000)
#        GATEWAY_BIN=.build-glibc/release/aiwriter Benchmarks/compare/http.sh   (another build, e.g.
#        `AIWRITER_MALLOC=jemalloc swift build -c release --scratch-path .build-jemalloc` for the allocator choice)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-1}
IDLE=${IDLE:-10000}
CONNECTIONS=${CONNECTIONS:-"64 256"}
GW_PORT=${GW_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}

scripts/install-deps.sh --bench
GATEWAY_BIN=${GATEWAY_BIN:-}
if [ -z "$GATEWAY_BIN" ]; then
  swift build -c release --product aiwriter >/dev/null
  GATEWAY_BIN=.build/release/aiwriter
fi
work=$(mktemp -d)
source Benchmarks/compare/lib.sh
trap 'set +e; kill $(cat "$work/gw.pid" 2>/dev/null) 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT

{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location / { return 200 "ok"; }
  }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
"$GATEWAY_BIN" serve --host 127.0.0.1 --port "$GW_PORT" --loops 2 --log-level warning 2>"$work/gw.log" &
echo $! > "$work/gw.pid"
sleep 1
curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null
curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null

hz=$(getconf CLK_TCK)

declare -A RPS P99 EFF
run() { # server connections round
  local server=$1 c=$2 r=$3 port url out before after
  port=$([ "$server" = gateway ] && echo "$GW_PORT" || echo "$NGINX_PORT")
  url="http://127.0.0.1:$port/healthz"
  before=$(cpu_ticks "$server")
  out=$(wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency "$url")
  after=$(cpu_ticks "$server")
  local rps p99 requests cpu
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  cpu=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN {print t / hz}')
  RPS[$server,$c,$r]=$rps
  P99[$server,$c,$r]=$p99
  EFF[$server,$c,$r]=$(awk -v n="$requests" -v s="$cpu" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
  printf "%-8s c=%-4s round %d: %10.0f req/s  p99 %-8s  %8s req/CPU-s  (server CPU %.1f s)\n" \
    "$server" "$c" "$r" "$rps" "$p99" "${EFF[$server,$c,$r]}" "$cpu"
}

echo "== throughput: wrk -t$WRK_THREADS -d${DURATION}s, gateway 2 loops vs nginx 2 workers, $(nproc) cores"
for c in $CONNECTIONS; do
  for r in $(seq 1 "$ROUNDS"); do
    run gateway "$c" "$r"
    run nginx "$c" "$r"
  done
done
echo
echo "== ratios gateway/nginx per round (req/s, p99, req per CPU-second)"
for c in $CONNECTIONS; do
  for r in $(seq 1 "$ROUNDS"); do
    awk -v c="$c" -v r="$r" -v a="${RPS[gateway,$c,$r]}" -v b="${RPS[nginx,$c,$r]}" \
        -v pa="$(to_ms "${P99[gateway,$c,$r]}")" -v pb="$(to_ms "${P99[nginx,$c,$r]}")" \
        -v ea="${EFF[gateway,$c,$r]}" -v eb="${EFF[nginx,$c,$r]}" \
        'BEGIN { printf "c=%-4s round %d: req/s %.2fx   p99 %.2fx (%.2f ms vs %.2f ms)   req/CPU-s %.2fx\n", c, r, a/b, pa/pb, pa, pb, ea/eb }'
  done
done

echo
echo "== memory: $IDLE idle keep-alive connections (RSS of the server's processes)"
for server in gateway nginx; do
  port=$([ "$server" = gateway ] && echo "$GW_PORT" || echo "$NGINX_PORT")
  before=$(rss_kib "$server")
  rm -f "$work/ready"
  python3 Benchmarks/compare/idle_connections.py "$port" "$IDLE" 6 "$work/ready" &
  holder=$!
  for _ in $(seq 1 120); do [ -s "$work/ready" ] && break; sleep 0.5; done
  sleep 1
  after=$(rss_kib "$server")
  answered=$(cat "$work/ready" 2>/dev/null || echo 0)
  wait $holder || true
  per=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.0f", (a - b) * 1024 / n}')
  echo "$server: RSS $before KiB -> $after KiB with $answered/$IDLE connections answered: $per bytes per idle connection"
  eval "PER_$server=$per"
done
awk -v a="$PER_gateway" -v b="$PER_nginx" 'BEGIN {printf "memory per idle connection gateway/nginx: %.2fx\n", (b > 0 ? a/b : 0)}'
