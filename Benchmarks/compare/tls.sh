#!/usr/bin/env bash
# TLS termination against nginx on loopback: the same self-signed RSA-2048 certificate, the
# same Mozilla-intermediate protocols, ciphers and groups, a session cache on both, 2 workers /
# loops each. wrk over HTTPS, interleaved A B A B, three rounds:
#   (a) keep-alive requests/s at 64 connections;
#   (b) full handshakes per second: `Connection: close` on every request, so each request is
#       a new TCP connection and a new TLS handshake.
# Prints requests/s and requests per server CPU-second for each and the ratios gateway/nginx.
# TESTSSL=1 also runs Debian's testssl.sh against the gateway and prints its findings summary.
#
# Usage: Benchmarks/compare/tls.sh           (env: DURATION=10 ROUNDS=3 WRK_THREADS=1 TESTSSL=1)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
export DURATION WRK_THREADS=${WRK_THREADS:-1}
GW_PORT=${GW_PORT:-18443}
NGINX_PORT=${NGINX_PORT:-18444}

scripts/install-deps.sh --bench
swift build -c release --product aiwriter >/dev/null
work=$(mktemp -d)
trap 'set +e; kill $(cat "$work/gw.pid" 2>/dev/null) 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
source Benchmarks/compare/lib.sh

# A local CA and a leaf it signs (one year, a CRL URI), so the testssl.sh scan judges the
# server's configuration rather than a throwaway certificate's hygiene.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout "$work/ca.key" -out "$work/ca.pem" -subj "/CN=aiwriter bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/leaf.csr" -subj "/CN=bench.test" 2>/dev/null
printf 'subjectAltName=DNS:bench.test,IP:127.0.0.1\ncrlDistributionPoints=URI:http://bench.test/ca.crl\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > "$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 365 \
  -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/ca.pem" > "$work/cert.pem"
ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
{ nginx_preamble; cat <<NGINX
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl reuseport;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $ciphers;
    ssl_prefer_server_ciphers off;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1d;
    add_header Strict-Transport-Security "max-age=63072000" always;
    location / { return 200 "ok"; }
  }
}
NGINX
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
.build/release/aiwriter serve --host 127.0.0.1 --port 0 --tls-port "$GW_PORT" --tls-cert "$work/cert.pem" \
  --tls-key "$work/key.pem" --loops 2 --log-level warning 2>"$work/gw.log" &
echo $! > "$work/gw.pid"
sleep 1
curl -skf "https://127.0.0.1:$GW_PORT/healthz" >/dev/null
curl -skf "https://127.0.0.1:$NGINX_PORT/" >/dev/null

declare -A R
for mode in keepalive handshake; do
  for r in $(seq 1 "$ROUNDS"); do
    for server in gateway nginx; do
      port=$([ "$server" = gateway ] && echo "$GW_PORT" || echo "$NGINX_PORT")
      if [ "$mode" = keepalive ]; then
        read -r rps p99 n cpu < <(run_wrk "$server" "https://127.0.0.1:$port/healthz" 64)
      else
        read -r rps p99 n cpu < <(run_wrk "$server" "https://127.0.0.1:$port/healthz" 64 -H "Connection: close")
      fi
      eff=$(awk -v n="$n" -v s="$cpu" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
      R[$mode,$server,$r]="$rps $eff"
      printf "%-9s %-8s round %d: %9.0f req/s  p99 %-8s %8s req/CPU-s (server CPU %.1f s)\n" "$mode" "$server" "$r" "$rps" "$p99" "$eff" "$cpu"
    done
  done
done
echo
echo "== ratios gateway/nginx (req/s, req per CPU-second)"
for mode in keepalive handshake; do
  for r in $(seq 1 "$ROUNDS"); do
    read -r ga ge <<<"${R[$mode,gateway,$r]}"
    read -r na ne <<<"${R[$mode,nginx,$r]}"
    awk -v m="$mode" -v r="$r" -v a="$ga" -v b="$na" -v ea="$ge" -v eb="$ne" \
      'BEGIN { printf "%-9s round %d: req/s %.2fx   req/CPU-s %.2fx\n", m, r, a/b, ea/eb }'
  done
done

if [ "${TESTSSL:-0}" = 1 ]; then
  echo
  echo "== testssl.sh against the gateway (127.0.0.1:$GW_PORT)"
  # Debian installs it as `testssl`; its exit status counts findings, so the output is checked instead.
  tool=$(command -v testssl || command -v testssl.sh || true)
  [ -n "$tool" ] || { echo "testssl.sh is not installed"; exit 1; }
  "$tool" --quiet --color 0 --warnings off --add-ca "$work/ca.pem" --jsonfile "$work/testssl.json" \
    "127.0.0.1:$GW_PORT/healthz" > "$work/testssl.txt" 2>&1 || true
  grep -q "Testing protocols" "$work/testssl.txt" || { echo "testssl.sh did not run:"; cat "$work/testssl.txt"; exit 1; }
  sed -n '/Testing protocols/,$p' "$work/testssl.txt" | grep -E "^ (SSL|TLS|ALPN|Forward|Session|Strict|Cipher order|Heartbleed|ROBOT|Secure Renegotiation|Secure Client-Initiated|CRIME|BREACH|POODLE|SWEET32|FREAK|DROWN|LOGJAM|BEAST|LUCKY13|RC4|Overall Grade|Grade cap)" || true
  echo "-- findings by severity (testssl.sh JSON)"
  python3 - "$work/testssl.json" <<'PY'
import collections, json, sys
findings = json.load(open(sys.argv[1]))
print(dict(collections.Counter(f["severity"] for f in findings)))
for f in findings:
    if f["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        print(f"{f['severity']:8s} {f['id']}: {f['finding'][:110]}")
PY
fi
