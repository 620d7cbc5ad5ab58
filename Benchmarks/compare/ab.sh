#!/usr/bin/env bash
# A/B of two gateway binaries on the request path, in one run, interleaved: /healthz (no key)
# and /v1/ping (key + local limiter), wrk -t1 at 64 connections, ROUNDS rounds alternating
# A-then-B and B-then-A (so neither always runs on a machine warmed or slowed by the other).
# Prints requests/s, requests per server CPU-second (utime+stime from /proc) and user CPU per
# request of each, and the ratios B/A per round. A hot-path change is measured this way against the previous
# commit's binary.
# Usage: Benchmarks/compare/ab.sh A_BINARY B_BINARY   (env: DURATION=5 ROUNDS=3 CONNECTIONS=64
#        PATHS="/healthz /v1/ping")
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1 B=$2
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
scripts/install-deps.sh --bench
work=$(mktemp -d)
trap 'set +e; kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)
ticks() { local t=0; for s in /proc/"$1"/task/*/stat; do t=$((t + $(awk '{print $14 + $15}' "$s"))); done; echo $t; }
# User time alone: the request path's own CPU, steadier than the total (kernel networking time
# on a shared 2-core machine swings ±10 % between runs).
uticks() { awk '{print $14}' /proc/"$1"/stat; }
start() { # NAME BINARY PORT
  local secret
  secret=$("$2" keys create --data-dir "$work/$1" --tenant bench --role reader --rate 1000000000/s --burst 1000000000 | tail -1)
  echo "$secret" > "$work/$1.key"
  "$2" serve --data-dir "$work/$1" --port "$3" --loops 2 --log-level error & echo $! > "$work/$1.pid"
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$3/healthz" >/dev/null && return; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}
start a "$A" 18180
start b "$B" 18181
measure() { # NAME PORT PATH
  local pid before after out header=()
  pid=$(cat "$work/$1.pid")
  [ "$3" = /v1/ping ] && header=(-H "Authorization: Bearer $(cat "$work/$1.key")")
  before=$(ticks "$pid"); ubefore=$(uticks "$pid")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${header[@]}" "http://127.0.0.1:$2$3")
  after=$(ticks "$pid"); uafter=$(uticks "$pid")
  local rps requests non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
  [ -n "$non2xx" ] && { echo "$1 $3: $non2xx non-2xx answers" >&2; exit 1; }
  echo "$rps $(awk -v n="$requests" -v t=$((after - before)) -v hz="$hz" 'BEGIN {printf "%.0f", n / (t / hz)}') $(awk -v n="$requests" -v t=$((uafter - ubefore)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
}
echo "A = $A"
echo "B = $B"
for path in ${PATHS:-/healthz /v1/ping}; do
  echo "== $path, $CONNECTIONS connections, ${DURATION}s per run"
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
      read -r a_rps a_eff a_user <<<"$(measure a 18180 "$path")"
      read -r b_rps b_eff b_user <<<"$(measure b 18181 "$path")"
    else
      read -r b_rps b_eff b_user <<<"$(measure b 18181 "$path")"
      read -r a_rps a_eff a_user <<<"$(measure a 18180 "$path")"
    fi
    echo "round $r: A $a_rps req/s, $a_eff req/CPU-s, $a_user us user/req | B $b_rps req/s, $b_eff req/CPU-s, $b_user us user/req | B/A req/s $(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", b / a}') per CPU-s $(awk -v a="$a_eff" -v b="$b_eff" 'BEGIN {printf "%.3f", b / a}') user/req $(awk -v a="$a_user" -v b="$b_user" 'BEGIN {printf "%.3f", b / a}')"
  done
done
