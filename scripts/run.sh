#!/usr/bin/env bash
# Builds and starts the gateway on its embedded defaults (127.0.0.1:8080, one loop per core).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product aiwriter
exec .build/release/aiwriter serve "$@"
