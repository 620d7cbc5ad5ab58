#!/usr/bin/env bash
# The AI proxy's own cost, beside nginx proxy_pass and the LiteLLM proxy, in one run.
#
# Upstream: nginx answering a fixed chat completion (`return 200 …`, zero think time) on one
# worker. Four ways to it, the same loadtest scenario (POST /v1/chat/completions, a 160-byte
# body, closed loop, `-t 1` so the servers keep the other core):
#   direct   loadtest → upstream nginx
#   gateway  loadtest → aiwriter (2 loops: key, limit, token budget, model routing, libcurl) → upstream
#   nginx    loadtest → nginx proxy_pass (2 workers, upstream keepalive) → upstream
#   litellm  loadtest → LiteLLM 1.99.4 proxy (2 workers, uvicorn) → upstream
# at 1, 16 and 64 connections, ROUNDS rounds with the order rotating. Then the added latency at
# one connection (p50 through each minus direct), a stream's time to first byte direct and
# through the gateway (ttfb.py: one keep-alive connection, median of 500), and the gateway's RSS across
# MILLION requests (default 1,000,000) sampled every 100,000.
# Usage: Benchmarks/compare/aiproxy.sh  (env: ROUNDS=3 DURATION=10 CONNECTIONS=1,16,64 MILLION=1000000 SMOKE=0)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-1,16,64}
MILLION=${MILLION:-1000000}
if [ "${SMOKE:-0}" = 1 ]; then ROUNDS=1; DURATION=1; CONNECTIONS=1,16; MILLION=20000; fi
UP_PORT=18180 GW_PORT=18181 NGX_PORT=18182 LL_PORT=18183
scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
swift build -c release --product loadtest >/dev/null
bin=.build/release/aiwriter
lt=.build/release/loadtest
work=$(mktemp -d)
trap 'set +e; kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null; nginx -c "$work/up.conf" -s stop 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
source Benchmarks/compare/lib.sh

completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}'
stream='data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\ndata: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}\n\ndata: [DONE]\n\n'
cat > "$work/up.conf" <<NGINX
worker_processes 1;
pid $work/up.pid;
error_log $work/up-error.log warn;
events { worker_connections 32768; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$UP_PORT reuseport;
    location /v1/chat/completions {
      default_type application/json;
      return 200 '$completion';
    }
    location = /v1/stream/chat/completions { default_type text/event-stream; return 200 '$stream'; }
  }
}
NGINX
nginx -c "$work/up.conf"
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  upstream fake { server 127.0.0.1:$UP_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGX_PORT reuseport;
    location / { proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"

cat > "$work/gateway.yaml" <<YAML
ai-providers:
  - name: fake
    kind: openai
    base-url: "http://127.0.0.1:$UP_PORT/v1"
  - name: fakestream
    kind: openai
    base-url: "http://127.0.0.1:$UP_PORT/v1/stream"
ai-models:
  - name: bench
    targets: ["fake/up"]
  - name: bench-stream
    targets: ["fakestream/up"]
YAML
export AIWRITER_DATA_DIR=$work/data
secret=$($bin keys create --tenant bench --role reader --rate 100000000/s --burst 100000000 --tokens-per-minute 1000000000000 | tail -1)
"$bin" serve --config "$work/gateway.yaml" --port $GW_PORT --loops 2 --log-level warning 2>"$work/gateway.log" & echo $! > "$work/gw.pid"

PY=$(scripts/python-env.sh numpy)
litellm=""
if [ ! -x .venv-litellm/bin/litellm ]; then
  python3 -m venv .venv-litellm >&2 && .venv-litellm/bin/pip install -q 'litellm[proxy]==1.99.4' >&2 || true
fi
if [ -x .venv-litellm/bin/litellm ]; then
  cat > "$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench
    litellm_params: {model: openai/up, api_base: "http://127.0.0.1:$UP_PORT/v1", api_key: dummy}
general_settings: {master_key: sk-bench}
litellm_settings: {telemetry: false}
YAML
  (cd "$work" && LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR exec "$OLDPWD/.venv-litellm/bin/litellm" --config "$work/litellm.yaml" \
      --host 127.0.0.1 --port $LL_PORT --num_workers 2 >"$work/litellm.log" 2>&1) & echo $! > "$work/litellm.pid"
  litellm=yes
fi

body='{"model":"bench","messages":[{"role":"system","content":"You are a writer."},{"role":"user","content":"Write one line about the sea."}],"max_tokens":64}'
wait_up() { for _ in $(seq 1 600); do curl -sf -o /dev/null -X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$body" "$1" && return 0; sleep 0.1; done; echo "$1 did not answer" >&2; return 1; }
wait_up "http://127.0.0.1:$UP_PORT/v1/chat/completions" x
wait_up "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$secret"
wait_up "http://127.0.0.1:$NGX_PORT/v1/chat/completions" x
if [ -n "$litellm" ] && ! wait_up "http://127.0.0.1:$LL_PORT/v1/chat/completions" sk-bench; then litellm=""; tail -20 "$work/litellm.log" >&2; fi

# run NAME PORT KEY CONNECTIONS → "rps p50 p99 errors"
run() {
  "$lt" run --url "http://127.0.0.1:$2/v1/chat/completions" --method POST --body "$body" -H "Content-Type: application/json" \
    -H "Authorization: Bearer $3" -c "$4" -t 1 -d "${DURATION}s" --warmup 1s --json "$work/r.json" >/dev/null 2>&1 || true
  "$PY" - "$work/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_ms", {})
print(r.get("rps"), lat.get("p50"), lat.get("p99"), r.get("errors", 0))
PY
}

systems="direct gateway nginx"
[ -n "$litellm" ] && systems="$systems litellm"
port_of() { case $1 in direct) echo $UP_PORT;; gateway) echo $GW_PORT;; nginx) echo $NGX_PORT;; litellm) echo $LL_PORT;; esac; }
key_of() { case $1 in gateway) echo "$secret";; litellm) echo sk-bench;; *) echo x;; esac; }
: > "$work/results.txt"
for r in $(seq 1 "$ROUNDS"); do
  order=$(echo $systems | tr ' ' '\n' | awk -v r="$r" '{a[NR]=$0} END {for (i=0;i<NR;i++) print a[(i+r-1)%NR+1]}')
  for s in $order; do
    for c in ${CONNECTIONS//,/ }; do
      read -r rps p50 p99 errors <<<"$(run "$s" "$(port_of "$s")" "$(key_of "$s")" "$c")"
      echo "$r $s $c $rps $p50 $p99 $errors" | tee -a "$work/results.txt"
    done
  done
done

echo
echo "== streaming time to first byte (one keep-alive connection, median of 500 after 50; ttfb.py), direct vs gateway, each round"
sbody=${body/\"max_tokens\":64/\"max_tokens\":64,\"stream\":true}
for r in $(seq 1 "$ROUNDS"); do
  direct_ttfb=$("$PY" Benchmarks/compare/ttfb.py $UP_PORT /v1/stream/chat/completions "$sbody" x)
  gateway_ttfb=$("$PY" Benchmarks/compare/ttfb.py $GW_PORT /v1/chat/completions "${sbody/\"model\":\"bench\"/\"model\":\"bench-stream\"}" "$secret")
  echo "round $r: direct ${direct_ttfb} ms, gateway ${gateway_ttfb} ms, added $(awk -v a="$gateway_ttfb" -v b="$direct_ttfb" 'BEGIN {printf "%.3f", a - b}') ms"
done

echo
echo "== gateway RSS across $MILLION requests (64 connections), sampled every $((MILLION / 10))"
step=$((MILLION / 10))
rss=()
for i in $(seq 1 10); do
  "$lt" run --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" --method POST --body "$body" -H "Content-Type: application/json" \
    -H "Authorization: Bearer $secret" -c 64 -t 1 --requests "$step" >/dev/null 2>&1
  rss+=("$(rss_kib gateway)")
done
echo "RSS KiB: ${rss[*]}"
"$PY" - "${rss[@]}" <<'PY'
import sys
v = [int(x) for x in sys.argv[1:]]
print(f"first {v[0]} KiB, last {v[-1]} KiB, change {100 * (v[-1] - v[0]) / v[0]:+.1f} % (after the first tenth), max {max(v)} KiB")
PY

echo
echo "== summary (medians over rounds)"
"$PY" - "$work/results.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
data = {}
for r, s, c, rps, p50, p99, err in rows:
    data.setdefault((s, int(c)), []).append((float(rps), float(p50), float(p99), int(float(err))))
conns = sorted({c for _, c in data})
systems = [s for s in ["direct", "gateway", "nginx", "litellm"] if any(k[0] == s for k in data)]
print(f"{'system':8} " + " ".join(f"{'c=' + str(c) + ' rps (each round)':>34}" for c in conns))
for s in systems:
    print(f"{s:8} " + " ".join(f"{', '.join(f'{x[0]:.0f}' for x in data[(s, c)]):>34}" for c in conns))
med = lambda s, c, i: statistics.median(x[i] for x in data[(s, c)])
for c in conns:
    line = f"c={c}: gateway/nginx {med('gateway', c, 0) / med('nginx', c, 0):.2f}x"
    if ("litellm", c) in data:
        line += f", gateway/litellm {med('gateway', c, 0) / med('litellm', c, 0):.1f}x"
    line += f", gateway p99 {med('gateway', c, 2):.2f} ms"
    if ("litellm", c) in data:
        line += f" (litellm {med('litellm', c, 2):.1f} ms)"
    print(line)
one = min(conns)
for s in systems[1:]:
    print(f"added p50 at {one} connection: {s} {med(s, one, 1) - med('direct', one, 1):.3f} ms")
errors = {k: sum(x[3] for x in v) for k, v in data.items() if sum(x[3] for x in v)}
print("errors:", errors or "none")
PY
