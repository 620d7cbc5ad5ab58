#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test the gateway.
# Idempotent: it asks apt only for packages that are missing.
set -euo pipefail
packages=(libuv1-dev libhttp-parser-dev libjemalloc-dev libssl-dev libpq-dev libsqlite3-dev libhiredis-dev zlib1g-dev libcurl4-openssl-dev postgresql postgresql-client redis-server haproxy
          pkg-config python3-prometheus-client python3-venv openssl curl docker.io debootstrap prometheus chromium)
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
  # Packages start nothing (no systemd here anyway): the tests start their own servers, and
  # deploy/docker/engine.sh starts dockerd by hand.
  created=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null && $sudo_cmd chmod +x /usr/sbin/policy-rc.d && created=yes
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$created" ] && $sudo_cmd rm -f /usr/sbin/policy-rc.d
fi
# Debian's nginx package starts a server on port 80 when installed; the benchmarks start their own.
if [ "${1:-}" = "--bench" ] && pgrep -x nginx >/dev/null 2>&1 && [ -f /run/nginx.pid ]; then
  nginx -s stop 2>/dev/null || true
fi
