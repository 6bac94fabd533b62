"""`python -m graders.questions.q3.gpu_run`, the GPU check's script, run end to end on the CPU with small numbers.

The same code path as on a GPU: data folder, worker, the submission's real Hyperband search,
the tuner report, the best model retrained and scored on the test set by the judge.
"""
import os
import re
import subprocess
import sys

import pytest

from graders import layout
from graders.questions.q3 import training

PROJECT_ROOT = layout.PROJECT_ROOT


def _run_gpu_check(tmp_path, cifar, *numbers):
    report_dir = tmp_path / "report"
    environment = {**os.environ, **({"HW9_CIFAR10": str(cifar)} if cifar else {})}
    finished = subprocess.run(
        [sys.executable, "-m", "graders.questions.q3.gpu_run", "--cpu", "--report-dir", str(report_dir), "--timeout", "900", *numbers],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=1200, check=False,
    )
    return finished, finished.stdout + finished.stderr, report_dir


def _check_complete_run(finished, output, report_dir):
    assert finished.returncode in (0, 1), f"gpu_run stopped before the end (exit {finished.returncode}):\n{output[-3000:]}"
    counts = re.search(r"(\d+) trials \((\d+) completed\)", output)
    assert counts, f"no trial count in the output:\n{output[-3000:]}"
    assert int(counts.group(1)) > 0 and counts.group(1) == counts.group(2), counts.group(0)
    assert re.search(r"best val_accuracy \d\.\d{4} \(trial \w+\)", output), output[-3000:]
    assert re.search(r"validation accuracy \d\.\d{4}, TEST accuracy \d\.\d{4}", output), output[-3000:]
    phases = re.search(r"phases: (.*)", output)
    assert phases, output[-3000:]
    for phase in ("data", "worker start + import", "search", "retrain+test"):
        assert f"{phase} " in phases.group(1), phases.group(0)
    assert ("PASS: " in output) == (finished.returncode == 0)
    assert sorted(path.name for path in report_dir.iterdir()) == ["full-search-trials.csv", "full-search-trials.png"]


@pytest.mark.slow  # a whole search and retrain, if tiny (21 s): .ci/run runs it
def test_gpu_check_runs_end_to_end_on_a_tiny_set(tmp_path, tiny_cifar):
    finished, output, report_dir = _run_gpu_check(
        tmp_path, tiny_cifar, "--max-epochs", "2", "--train-images", "30", "--val-images", "10", "--retrain-epochs", "1", "--batch-size", "8",
    )
    _check_complete_run(finished, output, report_dir)
    # Random pixels cannot reach the contract's floors: the script must say so, not pass.
    assert finished.returncode == 1 and "FAIL:" in output, output[-2000:]


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_on_cifar10_with_small_numbers(tmp_path):
    missing = training.cifar10_missing_reason()
    if missing:
        pytest.skip(f"no CIFAR-10: {missing}")
    finished, output, report_dir = _run_gpu_check(
        tmp_path, None, "--max-epochs", "2", "--train-images", "2000", "--val-images", "1000", "--retrain-epochs", "1",
    )
    _check_complete_run(finished, output, report_dir)
