#!/usr/bin/env bash
# Static checks (issue 16): ruff lint, ruff format, mypy, import contracts (.importlinter).
# The test suite runs the same checks (tests/test_static_checks.py).
#   bash scripts/check.sh          check everything; exit 1 if any check fails
#   bash scripts/check.sh --fix    first apply ruff's safe fixes and format the code, then check
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
py=.venv/bin/python

if [ "${1:-}" = "--fix" ]; then
  "$py" -m ruff check --fix-only .   # what cannot be fixed automatically is reported below
  "$py" -m ruff format .
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--fix]" >&2; exit 2
fi

failed=()
step() {
  local name=$1; shift
  echo "== $name" >&2
  local start=$SECONDS
  if "$@"; then echo "== $name: ok ($((SECONDS - start)) s)" >&2
  else echo "== $name: FAILED ($((SECONDS - start)) s)" >&2; failed+=("$name"); fi
}
step "ruff check" "$py" -m ruff check --no-cache .  # no cache: it once said "formatted" of a file that was not
step "ruff format" "$py" -m ruff format --check --no-cache .
step "mypy" "$py" -m mypy
# the example plugin is one of the contracts' root packages, so it must be importable
step "import contracts" env PYTHONPATH="examples/studio-hello-plugin${PYTHONPATH:+:$PYTHONPATH}" \
  "$py" -c 'import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())' \
  --cache-dir .venv/import-linter-cache

if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
echo "all static checks passed" >&2
