#!/usr/bin/env bash
# Prints the path of a Python with PACKAGES installed, in a virtual environment under the
# ignored .venv/ (made on first use; pip installs only what is missing).
# Usage: PY=$(scripts/python-env.sh numpy hnswlib faiss-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2 || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv" >&2; }
fi
missing=()
for package in "$@"; do
  module=${package%%[=<>]*}
  case "$module" in
    faiss-cpu) module=faiss ;;
    hdrhistogram) module=hdrh ;;
  esac
  "$venv/bin/python" -c "import ${module//-/_}" 2>/dev/null || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  "$venv/bin/pip" install -q "${missing[@]}" >&2
fi
echo "$PWD/$venv/bin/python"
