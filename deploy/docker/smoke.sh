#!/usr/bin/env bash
# The image end to end (in the test suite): built by build-image.sh, run the way the chart runs
# it — uid 10001, read-only root, /tmp a tmpfs, /data a volume, every capability dropped, no
# new privileges, the port published on 127.0.0.1 only — and checked: HEALTHCHECK turns
# healthy, /readyz reports the database, a key made with `docker exec`, a document written and
# read over the published port, nothing writable outside /data and /tmp, SIGTERM drains and
# exits 0, and the document is still there after a restart on the same volume.
# Usage: deploy/docker/smoke.sh   (env: TAG=aiwriter:smoke BIN=.build/release/aiwriter)
set -euo pipefail
cd "$(dirname "$0")/../.."
export TAG=${TAG:-aiwriter:smoke}
name=aiwriter-smoke-$$
volume=$name-data
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fail() { echo "FAIL: $1" >&2; docker logs "$name" 2>&1 | tail -20 >&2 || true; exit 1; }
ok() { echo "ok: $1"; }
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; docker volume rm "$volume" >/dev/null 2>&1 || true; }
trap cleanup EXIT
size=$(deploy/docker/build-image.sh 2>/dev/null | tail -1)
ok "image built: $size"
run() {
  docker run -d --name "$name" --read-only --tmpfs /tmp --mount "type=volume,source=$volume,target=/data" \
    --cap-drop ALL --security-opt no-new-privileges -p "127.0.0.1:$port:8080" "$TAG" serve --drain-timeout 5s >/dev/null
}
healthy() {
  for _ in $(seq 1 60); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the container exited"
    sleep 0.5
  done
  fail "HEALTHCHECK did not turn healthy within 30 s"
}
run
healthy
ok "HEALTHCHECK (aiwriter healthcheck) is healthy"
ready=$(curl -sf "http://127.0.0.1:$port/readyz") || fail "/readyz over the published port"
echo "$ready" | grep -q '"status":"ready"' && echo "$ready" | grep -q '"database":{"status":"up"' || fail "/readyz says $ready"
ok "/readyz: $ready"
[ "$(docker exec "$name" id -u)" = 10001 ] || fail "runs as uid 10001"
docker exec "$name" sh -c 'touch /usr/local/bin/x' 2>/dev/null && fail "the root filesystem is writable"
docker exec "$name" sh -c 'touch /data/x /tmp/x' || fail "/data and /tmp are writable"
ok "uid 10001, read-only root, writable /data and /tmp"
key=$(docker exec "$name" aiwriter keys create --tenant smoke --role writer | tail -1)
doc=$(curl -sf -H "Authorization: Bearer $key" -d '{"title":"Smoke","content":"in a container"}' "http://127.0.0.1:$port/v1/documents") \
  || fail "a document write"
id=$(echo "$doc" | sed 's/^{"id":\([0-9]*\).*/\1/')
curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/documents/$id" | grep -q '"content":"in a container"' || fail "the document read"
ok "a key from docker exec, document $id written and read"
started=$(date +%s)
docker stop -t 20 "$name" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || fail "SIGTERM should drain and exit 0, not $(docker inspect -f '{{.State.ExitCode}}' "$name")"
(( $(date +%s) - started < 15 )) || fail "the drain took longer than its timeout"
docker logs "$name" 2>&1 | grep -q '"msg":"draining"' || fail "the log shows the drain"
ok "docker stop: SIGTERM drained, exit 0 in $(( $(date +%s) - started )) s"
docker rm "$name" >/dev/null
run
healthy
curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/documents/$id" | grep -q '"content":"in a container"' || fail "the document after a restart"
ok "after a restart on the same volume the document is there"
echo "docker smoke passed"
