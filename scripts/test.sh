#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen LITELLM_LOCAL_MODEL_COST_MAP=True
# torch.compile's kernel cache, per checkout: the machine-wide one in /tmp may hold kernels
# another run built under other settings (seen: an abort inside a kernel cached by a run
# with AVX2 kernels forced; a fresh cache passed)
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.venv/inductor-cache}"
exec .venv/bin/python -m pytest "$@"
