#!/usr/bin/env bash
# What a key and a rate limit cost per request, measured in one run, interleaved:
#   unauth  the gateway's /healthz (no key, no limit)
#   local   /v1/ping with a key and the in-process GCRA limiter (limit far above the load)
#   redis   /v1/ping with a key and the GCRA limiter in Redis (one EVALSHA per request)
#   nginx   `return 200 "ok"` behind `limit_req` keyed by the Authorization header
# Same body ("ok"); wrk -t1, 64 connections, 10 s, three rounds. Ratios: local/unauth,
# redis/unauth, local/nginx.  Usage: Benchmarks/compare/ratelimit.sh  (env: DURATION ROUNDS CONNECTIONS)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
LOCAL_PORT=18090 REDIS_GW_PORT=18091 NGINX_PORT=18092 REDIS_PORT=${REDIS_PORT:-56390}
scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
bin=.build/release/aiwriter
work=$(mktemp -d)
trap 'set +e; kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1; rm -rf "$work"' EXIT
source Benchmarks/compare/lib.sh

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --loglevel warning
export AIWRITER_DATA_DIR=$work/data
secret=$($bin keys create --tenant bench --role reader --rate 100000000/s --burst 100000000 | tail -1)
"$bin" serve --port $LOCAL_PORT --loops 2 --log-level warning 2>"$work/local.log" & echo $! > "$work/local.pid"
"$bin" serve --port $REDIS_GW_PORT --loops 2 --log-level warning --rate-limit-store redis \
  --redis-url "redis://127.0.0.1:$REDIS_PORT/0" 2>"$work/redis.log" & echo $! > "$work/redisgw.pid"
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  limit_req_zone \$http_authorization zone=keys:10m rate=100000000r/s;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location / { limit_req zone=keys burst=100000000 nodelay; return 200 "ok"; }
  }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
sleep 1
auth="Authorization: Bearer $secret"
curl -sf "http://127.0.0.1:$LOCAL_PORT/healthz" >/dev/null
curl -sf -H "$auth" "http://127.0.0.1:$LOCAL_PORT/v1/ping" >/dev/null
curl -sf -H "$auth" "http://127.0.0.1:$REDIS_GW_PORT/v1/ping" >/dev/null
curl -sf -H "$auth" "http://127.0.0.1:$NGINX_PORT/" >/dev/null

measure() { # url [header]
  local out
  if [ $# -gt 1 ]; then out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$2" "$1"); else out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1"); fi
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}') ${non2xx:-0}"
}
printf "%-6s %-8s %12s %10s %8s\n" round mode req/s p99 non-2xx
for r in $(seq 1 "$ROUNDS"); do
  read -r u up un <<<"$(measure "http://127.0.0.1:$LOCAL_PORT/healthz")"
  read -r l lp ln <<<"$(measure "http://127.0.0.1:$LOCAL_PORT/v1/ping" "$auth")"
  read -r d dp dn <<<"$(measure "http://127.0.0.1:$REDIS_GW_PORT/v1/ping" "$auth")"
  read -r n np nn <<<"$(measure "http://127.0.0.1:$NGINX_PORT/" "$auth")"
  printf "%-6s %-8s %12s %10s %8s\n" "$r" unauth "$u" "$up" "$un" "$r" local "$l" "$lp" "$ln" "$r" redis "$d" "$dp" "$dn" "$r" nginx "$n" "$np" "$nn"
  echo "round $r ratios: local/unauth $(awk -v a="$l" -v b="$u" 'BEGIN{printf "%.2f", a/b}')  redis/unauth $(awk -v a="$d" -v b="$u" 'BEGIN{printf "%.2f", a/b}')  local/nginx $(awk -v a="$l" -v b="$n" 'BEGIN{printf "%.2f", a/b}')"
done
