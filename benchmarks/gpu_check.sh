#!/usr/bin/env bash
# Everything a machine with an NVIDIA GPU should check for plugrad, in one go:
#   1. install the packages as wheels (plus CuPy) into a fresh virtual environment,
#   2. `python -m plugrad info` (the cupy backend must say "yes"),
#   3. the conformance suite on the cupy backend (packages/backend-cupy/tests),
#   4. the regression demo with --device cuda,
#   5. the MLP benchmark: plugrad on cupy vs plugrad on numpy vs PyTorch (CUDA where installed).
# Results go to $OUT (default ./gpu-results), one file per step, plus summary.txt.
#
# Usage (repository root):  OUT=/some/dir bash benchmarks/gpu_check.sh
# Offline machines: put prebuilt wheels of the five packages (and cupy-cuda12x, if it
# is not installed) in $WHEELS (default ./dist); `nox -s install_matrix` leaves them in
# .nox/wheels. With network access nothing needs preparing.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-results}
WHEELS=${WHEELS:-$PWD/dist}
VENV=${VENV:-/tmp/plugrad-gpu-venv}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || summary "nvidia-smi not available"

$PY -m venv --system-site-packages "$VENV"   # keeps a preinstalled cupy/torch visible
. "$VENV/bin/activate"
pip_install() { pip install -q --find-links "$WHEELS" "$@" >> "$OUT/install.txt" 2>&1; }
if ls "$WHEELS"/plugrad_core-*.whl >/dev/null 2>&1; then
  pip_install --no-index "$WHEELS"/plugrad_*.whl || pip_install "$WHEELS"/plugrad_*.whl
else
  pip_install ./packages/core ./packages/backend-numpy ./packages/nn ./packages/optim ./packages/backend-cupy
fi
python -c "import cupy" 2>/dev/null || pip_install "cupy-cuda12x>=13" || summary "could not install cupy-cuda12x"
python -c "import pytest, hypothesis" 2>/dev/null || pip_install pytest hypothesis
summary "python: $(python --version 2>&1); cupy: $(python -c 'import cupy; print(cupy.__version__)' 2>&1 | tail -1)"

python -m plugrad info > "$OUT/info.txt" 2>&1
summary "info: $(grep -E '^  cupy ' "$OUT/info.txt" || echo 'no cupy line')"

python -m pytest -q -rs -p no:cacheprovider packages/backend-cupy/tests > "$OUT/conformance_cupy.txt" 2>&1
summary "cupy conformance (exit $?): $(tail -1 "$OUT/conformance_cupy.txt")"

if [ -f examples/linear_regression.py ]; then
  python examples/linear_regression.py --device cuda > "$OUT/linear_regression_cuda.txt" 2>&1
  summary "linear_regression --device cuda (exit $?): $(tail -2 "$OUT/linear_regression_cuda.txt" | tr '\n' ' ')"
fi

python benchmarks/mlp_devices.py --devices numpy,cupy --json "$OUT/mlp_devices.json" > "$OUT/mlp_devices.txt" 2>&1
summary "MLP benchmark (exit $?):"
cat "$OUT/mlp_devices.txt" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
