"""hw9-check: visible checks only, the public seed whatever the environment says, exit 0 only at full marks."""
import json
import sys

import pytest

from graders import layout
from graders.deploy import check, grade
from graders.deploy.bundles import PUBLIC_SEED
from graders.judge.report import partial_results_path, rewritten_versions

from tests.deploy_helpers import withheld_rubric


def test_the_grading_process_gets_no_setting_from_the_environment(monkeypatch):
    monkeypatch.setenv("HW9_GRADING_SEED", "424242")
    monkeypatch.setenv("HW9_RUBRIC", "/private/rubric.yaml")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:graders.judge.plugin")
    env = grade.pytest_environment()
    assert not any(key.startswith("HW9_") for key in env)
    assert env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1" and "PYTEST_ADDOPTS" not in env


def test_hw9_checks_command_line_says_the_public_seed_and_visible_only(tmp_path):
    grading = grade.Grading(rubric=layout.DEFAULT_RUBRIC, grading_seed=PUBLIC_SEED, visible_only=True)
    command = grade.pytest_command(tmp_path / "submission", grading, tmp_path / "results.json", tmp_path, tmp_path / "notes.json")
    assert command[command.index("--grading-seed") + 1] == str(PUBLIC_SEED)
    assert command[command.index("-c") + 1] == str(tmp_path / "pytest.ini")
    assert "graders.deploy.visible_only" in command and "graders.judge.plugin" in command


def test_only_visible_checks_run_and_the_withheld_ones_are_counted(tmp_path):
    rubric = withheld_rubric(tmp_path)
    grading = grade.Grading(rubric=rubric, grading_seed=PUBLIC_SEED, questions=("q1",), visible_only=True)
    with open(tmp_path / "log", "w") as log:
        graded = grade.run(layout.REFERENCE_SUBMISSION, grading, tmp_path / "results.json", output=log)
    names = {test["name"].split("[")[0] for test in graded.results["tests"]}
    assert "q1.pool2d" not in names and "q1.pool2d_golden" in names
    assert graded.results["score"] == graded.results["max_score"] == 19
    assert graded.check_notes["withheld"]["q1.pool2d"] == {"question": "q1", "visibility": "hidden", "points": 6, "cases": 9}
    lines = check.not_run_lines(rubric, graded.check_notes, ("q1",))
    assert lines == ["  q1: 1 check worth 6 points, hidden (never shown): graded only by your instructor", "  q2, q3, q4: not asked for (--questions)"]


def test_a_wrong_answer_exits_1_with_its_likely_mistake_whatever_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("HW9_GRADING_SEED", "424242")  # a private seed left in the environment: not used
    monkeypatch.setenv("HW9_RUBRIC", "/nonexistent/rubric.yaml")
    code = check.main([str(layout.CORPUS_DIR / "q1-minmax-swapped"), "--questions", "q1"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert f"public seed {PUBLIC_SEED}" in output
    assert "q1.pool2d (6 cases: [max-uint8] [max-int] [max-float] [min-uint8] [min-int] [min-float]): likely mistake: min and max pooling swapped" in output
    assert "Checked: pool2d(" in output and "Expected:" in output and "Got:" in output
    assert "q2, q3, q4: not asked for (--questions)" in output
    assert "fix the failed checks above" in output


def test_nothing_to_check_exits_2(tmp_path, capsys):
    assert check.main([str(tmp_path / "absent")]) == 2
    assert "could not be read" in capsys.readouterr().out
    assert check.main([str(tmp_path), "--questions", "q9"]) == 2
    assert "unknown question" in capsys.readouterr().err


def test_failures_are_grouped_by_check_and_by_missing_question():
    tests = [
        {"name": "q1.a[x]", "status": "failed", "output": "Checked: a\nLikely mistake: m", "extra_data": {"mistake": {"id": "m", "title": "a mistake"}}},
        {"name": "q1.a[y]", "status": "failed", "output": "Checked: a\nLikely mistake: m", "extra_data": {"mistake": {"id": "m", "title": "a mistake"}}},
        {"name": "q1.b", "status": "passed"},
        {"name": "q2.c[1]", "status": "failed", "output": "q2.py is missing from the submission"},
        {"name": "q2.c[2]", "status": "failed", "output": "q2.py is missing from the submission"},
    ]
    assert check.failure_lines(tests) == [
        "  q2: all 2 checks: q2.py is missing from the submission",
        "  q1.a (2 cases: [x] [y]): likely mistake: a mistake",
        "      Checked: a",
    ]


@pytest.mark.slow
def test_the_reference_gets_full_marks_from_the_checkout(capsys):
    assert check.main([str(layout.REFERENCE_SUBMISSION)]) == 0
    output = capsys.readouterr().out
    assert "total              100/100" in output and "full marks on the 100 points checked here" in output


def test_the_check_notes_file_is_json(tmp_path):
    # what graders.deploy.visible_only writes is what check.report reads
    notes = {"withheld": {"q4.layer_table": {"question": "q4", "visibility": "after_due_date", "points": 6, "cases": 7}}, "unselected": {}}
    (tmp_path / "n.json").write_text(json.dumps(notes))
    lines = check.not_run_lines(layout.DEFAULT_RUBRIC, json.loads((tmp_path / "n.json").read_text()), ())
    assert lines == ["  q4: 1 check worth 6 points, shown after the due date: graded only by your instructor"]


@pytest.mark.parametrize("cut", [False, True], ids=["after-an-exchange", "while-writing"])
def test_a_grading_stopped_while_rewriting_its_partial_results_reports_the_newest_whole_ones(tmp_path, monkeypatch, cut):
    older = {"tests": [{"name": "q1.conv2d[a]", "score": 2.0, "max_score": 2.0}]}
    newer = {"tests": [*older["tests"], {"name": "q1.conv2d[b]", "score": 0.0, "max_score": 2.0}]}
    results = tmp_path / "results.json"
    committed, temporary = rewritten_versions(partial_results_path(results))
    # A stand-in for pytest killed right after exchanging the newer version in (the older
    # one in the temporary), or while writing the newer one into the temporary.
    texts = {committed: older, temporary: json.dumps(newer)[:-10]} if cut else {committed: newer, temporary: older}
    stand_in = "; ".join(["import pathlib", *(f"pathlib.Path({str(path)!r}).write_text({(text if isinstance(text, str) else json.dumps(text))!r})" for path, text in texts.items())])
    monkeypatch.setattr(grade, "pytest_command", lambda *arguments: [sys.executable, "-c", stand_in])
    grading = grade.Grading(rubric=layout.DEFAULT_RUBRIC, grading_seed=PUBLIC_SEED)
    graded = grade.run(layout.REFERENCE_SUBMISSION, grading, results)
    assert graded.partial and graded.results == (older if cut else newer)
