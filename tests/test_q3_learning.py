"""The slow CIFAR-10 checks fail models that cannot learn, and say why.

Each corpus entry here passes the fast Q3 checks it is not about; the training checks must
catch what only training shows. Graded as an instructor would: the graders in a subprocess.
"""
import json
import subprocess
import sys

import pytest

from graders.questions.q3 import training
from graders.layout import CORPUS_DIR, PROJECT_ROOT

CANNOT_LEARN = {
    # entry: {check: keyword its feedback must contain}
    "q3-cannot-learn-lr": {"q3.best_model_learns": "learning rate 1e-07", "q3.tuner_search": "no trial learns"},
    "q3-no-softmax": {"q3.best_model_learns": "softmax"},
}


def _grade_slow_checks(entry, checks, grade_json):
    selection = " or ".join(check.split(".", 1)[1] for check in checks)
    command = [
        sys.executable, "-m", "pytest", "graders/questions/q3/checks_cifar.py", "-m", "slow", "-k", selection,
        "--submission", str(CORPUS_DIR / entry), "--grade-json", str(grade_json), "-q", "-p", "no:cacheprovider",
    ]
    finished = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert grade_json.is_file(), f"no results.json (exit {finished.returncode}):\n{(finished.stdout + finished.stderr)[-3000:]}"
    return {test["name"]: test for test in json.loads(grade_json.read_text())["tests"]}


@pytest.mark.slow
@pytest.mark.parametrize("entry", sorted(CANNOT_LEARN))
def test_a_model_that_cannot_learn_fails_the_training_checks(entry, tmp_path):
    missing = training.cifar10_missing_reason()
    if missing:
        pytest.skip(f"no CIFAR-10: {missing}")
    expected = CANNOT_LEARN[entry]
    tests = _grade_slow_checks(entry, expected, tmp_path / "results.json")
    for check, keyword in expected.items():
        assert check in tests, f"{check} was not graded; graded: {sorted(tests)}"
        assert tests[check]["status"] == "failed", f"{entry}: {check} passed:\n{tests[check]['output']}"
        assert keyword.lower() in tests[check]["output"].lower(), f"{entry}: {check} feedback lacks {keyword!r}:\n{tests[check]['output']}"
