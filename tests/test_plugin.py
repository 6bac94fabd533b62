"""The grading plugin end to end: rubric consistency, the score table, Gradescope's results.json."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from graders import layout
from graders.judge.rubric import RubricError, load_rubric

ROOT = layout.PROJECT_ROOT
RUBRIC = ROOT / "fixtures" / "rubric.yaml"


def grade(*args, cwd=ROOT):
    command = [sys.executable, "-m", "pytest", str(ROOT / "graders" / "questions"), "-p", "no:cacheprovider", "-q", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def rubric_variant(tmp_path, change):
    data = yaml.safe_load(RUBRIC.read_text())
    change(data["checks"])
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_rubric_sums_to_100_over_four_questions():
    rubric = load_rubric(RUBRIC)
    assert rubric.questions() == ["q1", "q2", "q3", "q4"]
    assert rubric.max_score() == 100


def test_a_question_whose_entries_miss_its_points_stops_collection(tmp_path):
    path = rubric_variant(tmp_path, lambda checks: checks["q1.pool2d_golden"].update(points=checks["q1.pool2d_golden"]["points"] + 1))
    result = grade("--rubric", path, "--questions", "q1")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "the q1 entries add up to 26 points, its descriptor gives it 25" in result.stdout + result.stderr


def test_a_rubric_with_a_negative_point_is_refused(tmp_path):
    path = rubric_variant(tmp_path, lambda checks: checks["q1.pool2d_golden"].update(points=-1))
    with pytest.raises(RubricError, match="q1.pool2d_golden needs non-negative points, got -1"):
        load_rubric(path)


def test_a_check_without_rubric_entry_stops_collection(tmp_path):
    def drop_and_rebalance(checks):
        dropped = checks.pop("q1.pool2d_golden")
        checks["q1.conv_params"]["points"] += dropped["points"]

    result = grade("--rubric", rubric_variant(tmp_path, drop_and_rebalance), "--questions", "q1")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "checks with no rubric entry: q1.pool2d_golden" in result.stdout + result.stderr


def test_a_rubric_entry_without_check_stops_collection(tmp_path):
    def add_phantom(checks):
        checks["q1.pool2d_golden"]["points"] -= 1
        checks["q1.phantom"] = {"points": 1}

    result = grade("--rubric", rubric_variant(tmp_path, add_phantom), "--questions", "q1")
    assert result.returncode == 4
    assert "rubric entries with no check: q1.phantom" in result.stdout + result.stderr


def test_wrong_pooling_loses_exactly_its_points_in_table_and_json(tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    reference = (ROOT / "solutions" / "q1.py").read_text()
    # A realistic slip: max and min pooling swapped.
    (student / "q1.py").write_text(reference.replace('{"max": np.max, "avg": np.mean, "min": np.min}', '{"max": np.min, "avg": np.mean, "min": np.max}'))
    results = tmp_path / "results.json"
    run = grade("--submission", student, "--grade-json", results, "--questions", "q1")
    assert run.returncode == 1, run.stdout[-2000:]
    report = json.loads(results.read_text())
    assert set(report) >= {"score", "max_score", "execution_time", "tests", "output"}
    for test in report["tests"]:
        assert set(test) - {"extra_data"} == {"name", "score", "max_score", "status", "output", "visibility"}
        assert ("extra_data" in test) == (test["status"] == "failed"), "a failed case names its mistake as data"
        assert test["status"] in ("passed", "failed") and test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
    failed = {test["name"].split("[")[0] for test in report["tests"] if test["status"] == "failed"}
    assert all(name.startswith(("q1.pool2d", "q1.global_pool")) for name in failed) and "q1.pool2d_golden" in failed
    assert report["max_score"] == pytest.approx(load_rubric(RUBRIC).max_score("q1"))
    assert report["score"] == pytest.approx(sum(test["score"] for test in report["tests"]), abs=1e-3)  # each rounded to 4 places
    golden_failures = [test for test in report["tests"] if test["name"].startswith("q1.pool2d_golden") and test["status"] == "failed"]
    assert all("Checked:" in test["output"] and "Expected:" in test["output"] and "Got:" in test["output"] for test in golden_failures)
    assert {test["extra_data"]["mistake"]["id"] for test in golden_failures} == {"q1.minmax-swapped"}
    table = run.stdout[run.stdout.index("hw9 grade") :]
    q1_row = next(line for line in table.splitlines() if line.startswith("q1 "))
    assert q1_row.split()[1] == f"{report['score']:.2f}".rstrip("0").rstrip(".") + f"/{report['max_score']:g}"


BREAK_ONE_CHECK = '''
def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "test_conv_input_rank[conv1d]":
            def broken(student, kind):
                return {}["a grader bug"]
            item.obj = broken
'''


def test_an_exception_in_a_check_is_an_internal_error_not_the_students(tmp_path):
    (tmp_path / "break_one_check.py").write_text(BREAK_ONE_CHECK)
    results = tmp_path / "out" / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "graders" / "questions"), "-p", "no:cacheprovider", "-q", "-p", "break_one_check",
         "--questions", "q1", "--grade-json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    report = json.loads(results.read_text())
    broken = next(test for test in report["tests"] if test["name"] == "q1.conv_input_rank[conv1d]")
    assert broken["status"] == "failed" and broken["output"].startswith("Internal grader error") and "KeyError" not in broken["output"]
    assert report["extra_data"]["hw9"]["internal_errors"] == ["q1.conv_input_rank[conv1d]"]
    assert "INTERNAL GRADER ERROR in q1.conv_input_rank[conv1d]" in run.stdout and "a grader bug" in run.stdout
    assert not (results.parent / "results.partial.json").exists(), "the partial results are replaced by the final ones"
    assert sum(round(test["max_score"] * 100) for test in report["tests"]) == 2500, "case maxima add up to Q1's 25 points exactly"
    others = [test for test in report["tests"] if test["name"] != broken["name"]]
    assert all(test["status"] == "passed" for test in others), [test["name"] for test in others if test["status"] != "passed"]


@pytest.mark.parametrize("points, count", [(2, 3), (3, 7), (1.5, 4), (9, 5), (0, 3), (0.01, 3)], ids=str)
def test_points_split_over_cases_add_up_exactly_in_hundredths(points, count):
    from graders.judge.scoring import split_points

    shares = split_points(points, count)
    assert len(shares) == count and sum(round(share * 100) for share in shares) == round(points * 100)
    assert max(shares) - min(shares) <= 0.01 + 1e-12 and shares == sorted(shares, reverse=True)


@pytest.mark.parametrize("bar, code", [(10, 0), (24, 1)], ids=["above", "below"])
def test_fail_under_makes_the_score_the_exit_status(bar, code):
    """A CI gate: the score decides, not whether some check lost points."""
    mutant = layout.CORPUS_DIR / "q1-minmax-swapped"
    result = grade("--submission", mutant, "--questions", "q1", "--fail-under", bar)
    assert result.returncode == code, result.stdout[-2000:]
    assert "failed" in result.stdout, "the mutant loses points either way"
    verdict = "passed" if code == 0 else "is below it"
    assert f"--fail-under {bar}: " in result.stdout and verdict in result.stdout.split(f"--fail-under {bar}: ")[1].splitlines()[0]


def test_a_grading_run_shows_no_third_party_warnings():
    """keras-tuner and TensorFlow warn from their internals; none of it belongs under a score table."""
    run = grade("--submission", layout.REFERENCE_SUBMISSION, "--questions", "q3,q4")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "warnings summary" not in run.stdout and "Warning" not in run.stdout, run.stdout[-3000:]
