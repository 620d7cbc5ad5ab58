#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds (debug), runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# The lifecycle tests drive the real aiwriter binary built above.
swift test --skip-build 2>&1 | tee .build/test-output.txt
