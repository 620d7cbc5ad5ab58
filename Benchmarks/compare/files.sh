#!/usr/bin/env bash
# A 200 MB file uploaded to and downloaded from the gateway beside `cp` of the same file on the
# same disk, in one run (issue 14's files benchmark).
#
# The gateway (release, 2 loops, embedded SQLite, files under its data directory in the scratch
# folder) takes the file as a raw streamed upload (`curl -T`, so with Expect: 100-continue) and
# answers only after it is fsync'd and renamed, so the peer is `cp` followed by `sync` of the
# copy (the same durability). The download is written by curl to the same disk; its peer is
# `cp` alone. ROUNDS rounds, each with a fresh name (so the bytes are written again, not found).
#   upload and download throughput vs cp      (target ≥ 0.5×)
#   the gateway's peak RSS growth over the run (target < 32 MB: nothing is held whole)
# The download's client is curl writing to the same disk, which bounds any server: nginx
# (sendfile) serving the same file to the same curl is measured beside it, and both again with
# curl discarding the bytes (the servers' own ceiling).
# With DATABASE_URL set, a second gateway on that PostgreSQL database is measured the same way
# (files in 1 MiB rows), for the record.
# BIN=PATH measures another aiwriter binary (an A/B against an older commit).
# Usage: Benchmarks/compare/files.sh   (env: ROUNDS=3 SIZE_MB=200 SMOKE=0 DATABASE_URL= BIN=)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-200}
if [ "${SMOKE:-0}" = 1 ]; then ROUNDS=1; SIZE_MB=20; fi
GW_PORT=18291 NGX_PORT=18292
scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
bin=${BIN:-.build/release/aiwriter}
work=$(mktemp -d -p "${BENCH_DIR:-/var/tmp}")
trap 'set +e; kill $(cat "$work/gw.pid" 2>/dev/null) 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
source Benchmarks/compare/lib.sh
head -c $((SIZE_MB * 1048576)) /dev/urandom > "$work/source.bin"
# nginx's workers run as nobody: the scratch folder must be readable to them.
chmod 755 "$work"; chmod 644 "$work/source.bin"
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$NGX_PORT; root $work; }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
want=$(sha256sum "$work/source.bin" | cut -d' ' -f1)

now() { date +%s.%N; }
hwm_kib() { awk '/VmHWM/ {print $2}' /proc/"$(cat "$work/gw.pid")"/status; }

# measure LABEL: ROUNDS of upload + download against the running gateway, each beside cp.
measure() {
  local label=$1 url="http://127.0.0.1:$GW_PORT"
  local rss0; rss0=$(rss_kib gateway)
  for r in $(seq 1 "$ROUNDS"); do
    rm -f "$work/copy.bin" "$work/down.bin"
    t0=$(now); cp "$work/source.bin" "$work/copy.bin"; sync "$work/copy.bin"; t1=$(now)
    answer=$(curl -sS -X POST -T "$work/source.bin" -H "Authorization: Bearer $secret" -H 'Content-Type: application/octet-stream' \
      "$url/v1/files?name=$label-$r.bin")
    t2=$(now)
    echo "$answer" | grep -q "\"sha256\":\"$want\"" || { echo "upload $r: $answer" >&2; exit 1; }
    id=$(echo "$answer" | sed 's/^{"id":\([0-9]*\).*/\1/')
    rm -f "$work/copy.bin"
    t3=$(now); cp "$work/source.bin" "$work/copy.bin"; t4=$(now)
    curl -sS -o "$work/down.bin" "$url/v1/files/$id/content" -H "Authorization: Bearer $secret"; t5=$(now)
    [ "$(sha256sum "$work/down.bin" | cut -d' ' -f1)" = "$want" ] || { echo "download $r differs" >&2; exit 1; }
    rm -f "$work/down.bin"
    t6=$(now); curl -sS -o "$work/down.bin" "http://127.0.0.1:$NGX_PORT/source.bin"; t7=$(now)
    curl -sS -o /dev/null "$url/v1/files/$id/content" -H "Authorization: Bearer $secret"; t8=$(now)
    curl -sS -o /dev/null "http://127.0.0.1:$NGX_PORT/source.bin"; t9=$(now)
    echo "$label $r $t0 $t1 $t2 $t3 $t4 $t5 $t6 $t7 $t8 $t9" >> "$work/times.txt"
  done
  echo "$label rss $rss0 $(hwm_kib)" >> "$work/times.txt"
}

start_gateway() {
  "$bin" serve --port $GW_PORT --loops 2 --log-level warning "$@" 2>"$work/gateway.log" & echo $! > "$work/gw.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/healthz" && break; sleep 0.1; done
}

: > "$work/times.txt"
export AIWRITER_DATA_DIR=$work/data
secret=$($bin keys create --tenant bench --role writer --rate 100000/s --burst 100000 | tail -1)
start_gateway
measure sqlite
kill "$(cat "$work/gw.pid")"; wait 2>/dev/null || true
if [ -n "${DATABASE_URL:-}" ]; then
  export AIWRITER_DATABASE_URL=$DATABASE_URL
  AIWRITER_MIGRATE=true "$bin" migrate >/dev/null
  secret=$($bin keys create --tenant bench --role writer --rate 100000/s --burst 100000 | tail -1)
  start_gateway
  measure postgres
  kill "$(cat "$work/gw.pid")"; wait 2>/dev/null || true
fi
PY=$(scripts/python-env.sh numpy)
"$PY" - "$work/times.txt" "$SIZE_MB" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
mb = float(sys.argv[2]) * 1048576 / 1e6
for label in dict.fromkeys(r[0] for r in rows):
    rounds = [r for r in rows if r[0] == label and r[1] != "rss"]
    up, down, cp_sync, cp, ngx, null, ngx_null = [], [], [], [], [], [], []
    for r in rounds:
        t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 = map(float, r[2:])
        cp_sync.append(mb / (t1 - t0)); up.append(mb / (t2 - t1)); cp.append(mb / (t4 - t3)); down.append(mb / (t5 - t4))
        ngx.append(mb / (t7 - t6)); null.append(mb / (t8 - t7)); ngx_null.append(mb / (t9 - t8))
    f = lambda v: ", ".join(f"{x:.0f}" for x in v)
    print(f"{label}: MB/s by round — upload {f(up)} (cp+sync {f(cp_sync)}), download {f(down)} (cp {f(cp)})")
    print(f"{label}: upload / cp+sync (each round): " + ", ".join(f"{a / b:.2f}" for a, b in zip(up, cp_sync)))
    print(f"{label}: download / cp (each round): " + ", ".join(f"{a / b:.2f}" for a, b in zip(down, cp)))
    print(f"{label}: download MB/s to the same curl from nginx {f(ngx)}; gateway / nginx (each round): " + ", ".join(f"{a / b:.2f}" for a, b in zip(down, ngx)))
    print(f"{label}: discarded by curl, MB/s — gateway {f(null)}, nginx {f(ngx_null)}; gateway / nginx (each round): " + ", ".join(f"{a / b:.2f}" for a, b in zip(null, ngx_null)))
    rss = [r for r in rows if r[0] == label and r[1] == "rss"][0]
    print(f"{label}: RSS before {int(rss[2]) / 1024:.1f} MiB, peak {int(rss[3]) / 1024:.1f} MiB, growth {(int(rss[3]) - int(rss[2])) / 1024:.1f} MiB")
PY
