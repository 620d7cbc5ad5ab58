#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test the gateway.
# Idempotent: it asks apt only for packages that are missing.
set -euo pipefail
packages=(libuv1-dev libhttp-parser-dev libjemalloc-dev libssl-dev libpq-dev libsqlite3-dev libhiredis-dev zlib1g-dev libcurl4-openssl-dev postgresql postgresql-client redis-server
          pkg-config python3-prometheus-client python3-venv openssl curl)
if [ "${1:-}" = "--bench" ]; then
  packages+=(nginx-light wrk testssl.sh)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's nginx package starts a server on port 80 when installed; the benchmarks start their own.
if [ "${1:-}" = "--bench" ] && pgrep -x nginx >/dev/null 2>&1 && [ -f /run/nginx.pid ]; then
  nginx -s stop 2>/dev/null || true
fi
