#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install Tensor Studio with its test tools, once.
# Re-running is cheap: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "Tensor Studio needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1))." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PYTHON" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tensor-studio-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, pinned: a CPU wheel of this version is on the reference machines, and an
  # unpinned torch would pull a multi-GB CUDA build. TORCH_SPEC overrides it.
  if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
  fi
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi
