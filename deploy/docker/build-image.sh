#!/usr/bin/env bash
# Builds the aiwriter image with no registry: a base image made with debootstrap from this
# machine's own Debian mirror (read from its apt sources now, never written into a file) and
# `docker import` (once; kept as aiwriter-base:bookworm), then Dockerfile.prebuilt copying in
# the release binary and the Swift runtime libraries it links. Prints the image's size.
# Usage: deploy/docker/build-image.sh   (env: TAG=aiwriter:local BIN=.build/release/aiwriter)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=${TAG:-aiwriter:local}
BIN=${BIN:-.build/release/aiwriter}
[ -x "$BIN" ] || { echo "no $BIN: swift build -c release --product aiwriter" >&2; exit 1; }
deploy/docker/engine.sh
if ! docker image inspect aiwriter-base:bookworm >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  # The first bookworm mirror the machine's apt is configured with (deb822 or one-line form).
  mirror=$(awk '/^URIs:/ {uri=$2} /^Suites:/ && / bookworm( |$)/ {print uri; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "no bookworm mirror in the apt sources" >&2; exit 1; }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  # Runtime libraries only (and pg_dump for `aiwriter backup` on PostgreSQL).
  debootstrap --variant=minbase \
    --include=libuv1,libhttp-parser2.9,libssl3,libsqlite3-0,libpq5,libhiredis0.14,libcurl4,zlib1g,ca-certificates,postgresql-client-15 \
    bookworm "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" -c . | docker import - aiwriter-base:bookworm >/dev/null
fi
context=$(mktemp -d)
trap 'rm -rf "$context" ${root:+"$root"}' EXIT
install -m 0755 "$BIN" "$context/aiwriter"
mkdir "$context/swift"
# The Swift runtime the binary links (the toolchain's, not Debian's).
ldd "$BIN" | awk '$3 ~ /\/swift\// {print $3}' | xargs -r -I{} cp {} "$context/swift/"
docker build -q -f deploy/docker/Dockerfile.prebuilt -t "$TAG" "$context" >/dev/null
echo "$TAG $(docker image inspect "$TAG" --format '{{.Size}}' | awk '{printf "%.1f MB", $1 / 1e6}')"
