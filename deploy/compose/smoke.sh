#!/usr/bin/env bash
# The Compose stack end to end (in the test suite): images built offline, the stack up, then
# through HAProxy on 127.0.0.1 only — a key (made in a replica with `docker compose exec`), a
# document written and read back by both replicas (HAProxy's stats show each served), a
# collection upsert and query, an AI call to the stack's test upstream, a loadtest run with no
# errors — the row visible on the streaming replica, a replica stopped and the other serving,
# and the stack down with every gateway's SIGTERM drained (exit 0).
# Usage: deploy/compose/smoke.sh   (env: BIN=.build/release/aiwriter LOADTEST=.build/release/loadtest)
set -euo pipefail
cd "$(dirname "$0")/../.."
LOADTEST=${LOADTEST:-.build/release/loadtest}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export AIWRITER_PORT=$(free_port) AIWRITER_STATS_PORT=$(free_port)
export AIWRITER_AI_PROVIDERS='[{"name":"test","kind":"openai","base-url":"http://haproxy:9000/v1"}]'
export AIWRITER_AI_MODELS='[{"name":"writer","targets":["test/up"]}]'
project=aiwsmoke$$
compose() { docker compose -p "$project" -f deploy/compose/compose.yaml "$@"; }
base="http://127.0.0.1:$AIWRITER_PORT"
fail() { echo "FAIL: $1" >&2; compose ps -a >&2 || true; compose logs --tail 20 >&2 || true; exit 1; }
ok() { echo "ok: $1"; }
trap 'compose down -v --timeout 20 >/dev/null 2>&1 || true' EXIT
deploy/docker/engine.sh
deploy/compose/compose-plugin.sh
deploy/compose/build-images.sh >/dev/null
ok "images built"
compose up -d >/dev/null 2>&1 || fail "the stack starts"
# HAProxy starts once both gateways are healthy; its port answers once it has checked one.
up=""
for _ in $(seq 1 240); do curl -sf -o /dev/null "$base/readyz" && { up=yes; break; }; sleep 0.5; done
[ -n "$up" ] || fail "the stack answered /readyz through haproxy within 120 s"
stats() { curl -sf "http://127.0.0.1:$AIWRITER_STATS_PORT/stats;csv"; }
both=""
for _ in $(seq 1 60); do
  [ "$(stats | awk -F, '$1 == "gateways" && $2 ~ /^gw/ && $18 == "UP" {n++} END {print n + 0}')" -ge 2 ] && { both=yes; break; }
  sleep 0.5
done
[ -n "$both" ] || fail "haproxy sees both replicas up within 30 s"
ok "stack up: $(compose ps --format '{{.Service}}' | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
key=$(compose exec -T gateway aiwriter keys create --tenant smoke --role writer --rate 100000/s --burst 100000 | tail -1)
auth=(-H "Authorization: Bearer $key")
doc=$(curl -sf "${auth[@]}" -d '{"title":"Compose","content":"behind haproxy"}' "$base/v1/documents") || fail "a document write"
id=$(echo "$doc" | sed 's/^{"id":\([0-9]*\).*/\1/')
for _ in 1 2 3 4; do
  curl -sf "${auth[@]}" "$base/v1/documents/$id" | grep -q '"content":"behind haproxy"' || fail "the document read"
done
served=$(stats | awk -F, '$1 == "gateways" && $2 ~ /^gw/ && $18 == "UP" && $8 > 0 {n++} END {print n + 0}')
[ "$served" -ge 2 ] || fail "both replicas served requests (stats say $served)"
ok "document $id written and read back through both replicas"
curl -sf "${auth[@]}" -d '{"name":"notes","dimension":3,"metric":"cosine"}' "$base/v1/collections" >/dev/null || fail "a collection"
curl -sf "${auth[@]}" -d '{"records":[{"id":"a","vector":[1,0,0],"document":"first"},{"id":"b","vector":[0,1,0],"document":"second"}]}' \
  "$base/v1/collections/notes/records" >/dev/null || fail "an upsert"
hit=""
for _ in $(seq 1 20); do
  hit=$(curl -sf "${auth[@]}" -d '{"vector":[0.9,0.1,0],"k":1,"include":["documents"]}' "$base/v1/collections/notes/query" || true)
  echo "$hit" | grep -q '"first"' && break
  sleep 0.25
done
echo "$hit" | grep -q '"first"' || fail "a query finds the nearest record on either replica ($hit)"
ok "collection upsert and query"
answer=$(curl -sf "${auth[@]}" -d '{"model":"writer","messages":[{"role":"user","content":"Hi"}]}' "$base/v1/chat/completions") || fail "an AI call"
echo "$answer" | grep -q 'Hello from the test upstream.' || fail "the AI answer ($answer)"
ok "an AI call through the proxy to the test upstream"
"$LOADTEST" run --url "$base/v1/documents/$id" -H "Authorization: Bearer $key" -c 8 -t 1 -d 3s --json /tmp/$project.json >/dev/null 2>&1 \
  || fail "loadtest through haproxy"
errors=$(python3 -c "import json; r = json.load(open('/tmp/$project.json')); print(r.get('errors', 0), int(r.get('rps', 0)))")
rm -f /tmp/$project.json
[ "${errors%% *}" = 0 ] || fail "loadtest saw errors ($errors)"
ok "loadtest through haproxy: ${errors##* } requests/s, no errors"
rows=""
for _ in $(seq 1 20); do
  rows=$(compose exec -T postgres-replica psql -At -U postgres -d aiwriter -c "SELECT pg_is_in_recovery(), count(*) FROM documents WHERE id = $id" || true)
  [ "$rows" = "t|1" ] && break
  sleep 0.25
done
[ "$rows" = "t|1" ] || fail "the streaming replica has the row ($rows)"
ok "the streaming replica (in recovery) has the row"
first=$(compose ps -q gateway | head -1)
docker stop -t 20 "$first" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$first")" = 0 ] || fail "a gateway's SIGTERM drains and exits 0"
for _ in 1 2 3 4; do
  curl -sf "${auth[@]}" "$base/v1/documents/$id" >/dev/null || fail "the other replica serves while one is stopped"
done
ok "one replica stopped (exit 0): the other serves every request"
docker start "$first" >/dev/null
codes=$(compose ps -q gateway worker)
compose stop --timeout 20 >/dev/null 2>&1
for c in $codes; do
  [ "$(docker inspect -f '{{.State.ExitCode}}' "$c")" = 0 ] || fail "$(docker inspect -f '{{.Name}}' "$c") exited $(docker inspect -f '{{.State.ExitCode}}' "$c") on stop"
done
ok "stack stopped: every gateway and worker drained and exited 0"
echo "compose smoke passed"
