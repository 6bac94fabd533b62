"""hw9-grade's command line: --out checks, --require-sandbox, the sandbox line, file modes, the order of gradings."""
import os
import stat

import pytest

from graders import questions
from graders.batch import judges
from graders.batch.command import parse_arguments
from graders.batch.fingerprint import grader_fingerprint
from graders.judge import harness, jail
from tests.batch_helpers import fake_judges, folder_submission, grade_here, zip_submission

# Writes as the plugin does: results.json through mkstemp (0600), a folder by mkdtemp (0700).
JUDGE = """
import json, os, sys, tempfile
folder = tempfile.mkdtemp(dir=sys.argv[1])
os.replace(folder, sys.argv[1] + "/q2")
handle, path = tempfile.mkstemp(dir=sys.argv[1])
os.write(handle, json.dumps({"tests": [{"name": "q1.a", "score": 1, "max_score": 1, "status": "passed"}]}).encode())
os.replace(path, sys.argv[1] + "/results.json")
"""


@pytest.fixture
def klass(tmp_path):
    root = tmp_path / "class"
    folder_submission(root, "alice", "x = 1\n")
    zip_submission(root / "bob.zip", {"q1.py": "x = 1\n"})
    return root


def _graded_folder_as_submission(klass):
    out = klass.parent / "out"
    return [folder_submission(out / "students", "alice", "x = 1\n")], out


@pytest.mark.parametrize(
    "case, words",
    [
        (lambda klass: ([klass], klass / "bob.zip"), "is an existing file, not a folder"),
        (lambda klass: ([klass], klass), "is the SUBMISSION argument"),
        (lambda klass: ([klass], klass / "grades"), "is inside the SUBMISSION argument"),
        (lambda klass: ([klass / "alice"], klass / "alice"), "is the SUBMISSION argument"),
        (_graded_folder_as_submission, "overlap"),
    ],
    ids=["existing-file", "the-class-folder", "inside-the-class-folder", "a-submission", "a-submission-under-students"],
)
def test_an_unusable_out_is_a_one_line_error(klass, monkeypatch, capsys, case, words):
    arguments, out = case(klass)
    before = sorted(klass.parent.rglob("*"))
    assert grade_here(monkeypatch, *arguments, "--out", out) == 2
    error = capsys.readouterr().err
    assert error.startswith("hw9-grade: error: ") and words in error and error.count("\n") == 1, error
    assert sorted(klass.parent.rglob("*")) == before  # nothing written


def test_require_sandbox_reaches_every_judge_and_never_changes_a_grade():
    _, arguments = parse_arguments(["s", "--out", "o"])
    assert arguments.require_sandbox == "none"
    options = {
        level: judges.GradingOptions(jobs=1, timeout=1, require_sandbox=level) for level in ("none", "landlock", "namespaces")
    }
    for level, option in options.items():
        command = judges.judge_arguments("sub", judges.Path("staging"), option)
        assert command[command.index("--require-sandbox") + 1] == level
    assert len({grader_fingerprint(option.fingerprinted()) for option in options.values()}) == 1
    with pytest.raises(SystemExit):
        parse_arguments(["s", "--out", "o", "--require-sandbox", "chroot"])


def test_the_sandbox_is_announced_and_a_weaker_one_refused(klass, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(judges, "sandbox_in_force", lambda: ("landlock", "Landlock and resource limits"))
    fake_judges(monkeypatch, JUDGE)
    assert grade_here(monkeypatch, klass, "--out", tmp_path / "a", "--require-sandbox", "namespaces") == 2
    shown = capsys.readouterr()
    assert "sandbox: landlock (Landlock and resource limits)" in shown.out
    assert "hw9-grade: error: --require-sandbox namespaces: workers here get only landlock" in shown.err
    assert not (tmp_path / "a").exists()
    assert grade_here(monkeypatch, klass, "--out", tmp_path / "b", "--require-sandbox", "landlock") == 0
    assert capsys.readouterr().out.count("sandbox: landlock") == 1


def test_the_sandbox_in_force_is_the_one_the_harness_plans():
    level, description = judges.sandbox_in_force()
    assert level == harness.planned_level().label and level in judges.SANDBOX_LEVELS
    assert description == judges.SANDBOX_DESCRIPTIONS[level] + (f" (no namespaces: {why})" if (why := jail.namespaces_unavailable()) else "")


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)], ids=["022", "002"])
def test_everything_written_under_out_follows_the_umask(klass, tmp_path, monkeypatch, umask, file_mode, folder_mode):
    fake_judges(monkeypatch, JUDGE)
    previous = os.umask(umask)
    try:
        assert grade_here(monkeypatch, klass, "--out", tmp_path / "out") == 0
    finally:
        os.umask(previous)
    written = [tmp_path / "out", *(tmp_path / "out").rglob("*")]
    assert {"results.json", "record.json", "index.html", "grading.log", "gradebook.csv", "report.html", "q2"} <= {p.name for p in written}
    modes = {str(path.relative_to(tmp_path)): stat.S_IMODE(path.lstat().st_mode) for path in written}
    expected = {name: folder_mode if (tmp_path / name).is_dir() else file_mode for name in modes}
    assert modes == expected


# Notes the order in which judges start (one at a time with --jobs 1).
ORDER_JUDGE = """
import json, pathlib, sys
with open({log!r}, "a") as log:
    log.write(pathlib.Path(sys.argv[2]).name + "\\n")
json.dump({{"tests": []}}, open(sys.argv[1] + "/results.json", "w"))
"""


@pytest.mark.parametrize(
    "only, expected",
    [((), ["all", "q3", "q1-q2", "q2-linked-q3", "q1"]), (("--only", "q1,q2"), ["all", "q1-q2", "q2-linked-q3", "q1", "q3"])],
    ids=["all-questions", "only-q1-q2"],
)
def test_the_dearest_submissions_are_graded_first(tmp_path, monkeypatch, only, expected):
    # Costs from the question descriptors: q1 1, q2 3, q3 6, q4 1; a linked file is no file.
    root = tmp_path / "class"
    for name, files in {"all": "q1 q2 q3 q4", "q1": "q1", "q1-q2": "q1 q2", "q2-linked-q3": "q2", "q3": "q3"}.items():
        (root / name).mkdir(parents=True)
        for question in files.split():
            (root / name / f"{question}.py").write_text("x = 1\n")
    (root / "q2-linked-q3" / "q3.py").symlink_to(root / "q3" / "q3.py")
    assert [question.cost for question in questions.all_questions()] == [1, 3, 6, 1]
    log = tmp_path / "started"
    fake_judges(monkeypatch, ORDER_JUDGE.format(log=str(log)))
    assert grade_here(monkeypatch, root, "--out", tmp_path / "out", "--jobs", "1", *only) == 0
    assert log.read_text().split() == expected
