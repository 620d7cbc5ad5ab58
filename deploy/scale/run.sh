#!/usr/bin/env bash
# The scale-out proof (issue 17): replicas behind HAProxy on test hosts in network namespaces,
# under faults. Needs root (namespaces), haproxy, postgresql, redis-server (scripts/install-deps.sh).
#   deploy/scale/run.sh                      # every fault, full length
#   deploy/scale/run.sh --short              # the CI mode (a few minutes)
#   deploy/scale/run.sh --only kill-9,partition
#   deploy/scale/run.sh capacity             # loadtest capacity for 1..3 replicas -> deploy/scale/out/
#   deploy/scale/run.sh soak --minutes 30    # half of capacity, RSS/fds/p99 drift
# BIN and LOADTEST name the binaries (default: the release builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.build/release/aiwriter}
LOADTEST=${LOADTEST:-.build/release/loadtest}
mode=faults
case "${1:-}" in faults|capacity|soak) mode=$1; shift ;; esac
exec python3 deploy/scale/scale.py "$mode" "$BIN" "$LOADTEST" "$@"
