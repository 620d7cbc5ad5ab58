#!/usr/bin/env bash
# The images the Compose stack runs, with no registry: aiwriter:local (deploy/docker/
# build-image.sh) and aiwriter-ops:bookworm — HAProxy, PostgreSQL 15 and Redis from this
# machine's Debian mirror, installed in a debootstrap chroot with a policy-rc.d (so no
# package starts a server while it is built) and imported once.
# Usage: deploy/compose/build-images.sh   (env: BIN=.build/release/aiwriter)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=aiwriter:local deploy/docker/build-image.sh >/dev/null
if ! docker image inspect aiwriter-ops:bookworm >/dev/null 2>&1; then
  mirror=$(awk '/^URIs:/ {uri=$2} /^Suites:/ && / bookworm( |$)/ {print uri; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "no bookworm mirror in the apt sources" >&2; exit 1; }
  root=$(mktemp -d)
  trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy postgresql-15 redis-server >/dev/null'
  umount "$root/proc"
  # The package's default cluster is not used: the stack makes its own under a volume.
  rm -rf "$root"/var/lib/postgresql/15/main "$root"/etc/postgresql/15/main "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" -c . | docker import - aiwriter-ops:bookworm >/dev/null
fi
echo "aiwriter:local aiwriter-ops:bookworm"
