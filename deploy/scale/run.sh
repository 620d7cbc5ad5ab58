#!/usr/bin/env bash
# The scale-out proof (issue 17): replicas behind HAProxy on test hosts in network namespaces,
# under faults. Needs root (namespaces), haproxy, postgresql, redis-server (scripts/install-deps.sh).
#   deploy/scale/run.sh                      # every fault, full length
#   deploy/scale/run.sh --short              # the CI mode (a few minutes)
#   deploy/scale/run.sh --only kill-9,partition
# BIN and LOADTEST name the binaries (default: the release builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.build/release/aiwriter}
LOADTEST=${LOADTEST:-.build/release/loadtest}
exec python3 deploy/scale/scale.py "$BIN" "$LOADTEST" "$@"
