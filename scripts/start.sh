#!/usr/bin/env bash
# Set up (first time only) and open Tensor Studio on the default workspace. Offline, no key.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tensor-studio "$@"
