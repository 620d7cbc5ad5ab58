#!/usr/bin/env bash
# The alerting rules (in the test suite): `promtool check rules` and the unit tests in
# deploy/prometheus/aiwriter-rules.test.yaml, then a real Prometheus (Debian's) scraping a
# running gateway every second with the rules loaded: the target is up, the gateway's series
# arrive with the labels the rules select on, and every rule evaluates without error.
# Usage: deploy/tests/prometheus_test.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-.build/debug/aiwriter}")
rules=$PWD/deploy/helm/aiwriter/files/aiwriter-rules.yaml
promtool check rules "$rules" >/dev/null
(cd deploy/prometheus && promtool test rules aiwriter-rules.test.yaml >/dev/null)
echo "ok: promtool check rules and the rules' unit tests"
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gw=$(free_port) prom=$(free_port)
AIWRITER_DATA_DIR=$work/data "$binary" serve --port "$gw" --log-level warning 2>"$work/gateway.log" & echo $! > "$work/gw.pid"
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$rules"]
scrape_configs:
  - job_name: aiwriter
    static_configs: [{targets: ["127.0.0.1:$gw"]}]
YAML
prometheus --config.file "$work/prometheus.yml" --storage.tsdb.path "$work/tsdb" --web.listen-address "127.0.0.1:$prom" \
  >"$work/prometheus.log" 2>&1 & echo $! > "$work/prom.pid"
query() { curl -sf "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$1" | python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$gw/healthz" && break; sleep 0.1; done
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$gw/healthz"; curl -s -o /dev/null "http://127.0.0.1:$gw/v1/nope"; done
seen=""
for _ in $(seq 1 60); do
  [ "$(query 'up{job="aiwriter"}' 2>/dev/null)" = 1 ] && [ -n "$(query 'aiwriter_http_requests_total{route="GET /healthz",status="200"} >= 50' 2>/dev/null)" ] && { seen=yes; break; }
  sleep 0.5
done
[ -n "$seen" ] || { echo "FAIL: Prometheus did not scrape the gateway's series"; tail -5 "$work/prometheus.log"; exit 1; }
echo "ok: Prometheus scrapes the gateway (up, aiwriter_http_requests_total by route and status)"
p99=""
for _ in $(seq 1 20); do
  curl -sf -o /dev/null "http://127.0.0.1:$gw/healthz"
  p99=$(query 'histogram_quantile(0.99, sum by (job, le) (rate(aiwriter_http_request_duration_seconds_bucket[1m])))' 2>/dev/null || true)
  [ -n "$p99" ] && [ "$p99" != NaN ] && break
  sleep 0.5
done
[ -n "$p99" ] && [ "$p99" != NaN ] || { echo "FAIL: the latency rule's expression has no result"; exit 1; }
echo "ok: the SLO expression over the gateway's histogram: p99 $p99 s"
sleep 2
curl -sf "http://127.0.0.1:$prom/api/v1/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
firing = [r["name"] for r in rules if r.get("state") == "firing"]
assert len(rules) == 10 and not bad, (len(rules), bad)
assert not firing, firing
print(f"ok: {len(rules)} rules loaded, every one evaluating, none firing on a healthy gateway")'
echo "prometheus checks passed"
