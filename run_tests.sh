#!/usr/bin/env bash
# Set up .venv (first run only) and run the test suite. Extra arguments go to pytest (e.g. -k wgan, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")"
source benchmark/setup_venv.sh
export WANDB_MODE=${WANDB_MODE:-disabled} WANDB_SILENT=true
exec "$VENV/bin/python" -m pytest -q "$@"
