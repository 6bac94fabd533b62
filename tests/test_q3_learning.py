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


def _start_grading(entry, checks, grade_json):
    selection = " or ".join(check.split(".", 1)[1] for check in checks)
    command = [
        sys.executable, "-m", "pytest", "graders/questions/q3/checks_cifar.py", "-m", "slow", "-k", selection,
        "--submission", str(CORPUS_DIR / entry), "--grade-json", str(grade_json), "-q", "-p", "no:cacheprovider",
    ]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every entry's training checks, graded at once: one training uses under two cores, two fill them."""
    missing = training.cifar10_missing_reason()
    if missing:
        pytest.skip(f"no CIFAR-10: {missing}")
    folder = tmp_path_factory.mktemp("q3-learning")
    running = {entry: _start_grading(entry, checks, folder / f"{entry}.json") for entry, checks in CANNOT_LEARN.items()}
    tests = {}
    for entry, process in running.items():
        output, _ = process.communicate(timeout=1800)
        grade_json = folder / f"{entry}.json"
        assert grade_json.is_file(), f"{entry}: no results.json (exit {process.returncode}):\n{output[-3000:]}"
        tests[entry] = {test["name"]: test for test in json.loads(grade_json.read_text())["tests"]}
    # Both graded into one folder: each keeps its own tuner report, beside its own results.
    assert (folder / "q3-cannot-learn-lr-tuner-report" / "cpu-search-trials.csv").is_file()
    assert not (folder / "tuner-report").exists()
    return tests


@pytest.mark.slow
@pytest.mark.parametrize("entry", sorted(CANNOT_LEARN))
def test_a_model_that_cannot_learn_fails_the_training_checks(entry, graded):
    expected, tests = CANNOT_LEARN[entry], graded[entry]
    for check, keyword in expected.items():
        assert check in tests, f"{check} was not graded; graded: {sorted(tests)}"
        assert tests[check]["status"] == "failed", f"{entry}: {check} passed:\n{tests[check]['output']}"
        assert keyword.lower() in tests[check]["output"].lower(), f"{entry}: {check} feedback lacks {keyword!r}:\n{tests[check]['output']}"


def test_tuner_reports_beside_different_results_files_in_one_folder_are_apart(tmp_path):
    from graders.questions.q3.checks_cifar import tuner_report_beside

    assert tuner_report_beside(tmp_path / "results.json") == tmp_path.resolve() / "tuner-report"
    assert tuner_report_beside(tmp_path / "alice.json") == tmp_path.resolve() / "alice-tuner-report"
    assert tuner_report_beside(tmp_path / "alice.json") != tuner_report_beside(tmp_path / "bob.json")
