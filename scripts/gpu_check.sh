#!/usr/bin/env bash
# Q3's full check on a GPU machine, from a clean checkout: install, then search (30 trials),
# retrain the best model 50 epochs and score it on the test set. Arguments go to
# `python -m graders.questions.q3.gpu_run` (see --help); small numbers run it on a CPU with --cpu.
#   HW9_WHEELS=DIR  install offline from the wheels in DIR (no registry reachable)
#   HW9_CIFAR10=... where CIFAR-10 is (official tar.gz / folder, or the JPEG archive)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${HW9_WHEELS:-}" ]; then
    export PIP_NO_INDEX=1 PIP_FIND_LINKS="$HW9_WHEELS"
fi
bash scripts/setup.sh
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    # The plain tensorflow wheel finds no GPU without the CUDA libraries of its and-cuda extra.
    version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("tensorflow"))')
    .venv/bin/python -m pip install --quiet "tensorflow[and-cuda]==$version"
fi
exec .venv/bin/python -m graders.questions.q3.gpu_run "$@"
