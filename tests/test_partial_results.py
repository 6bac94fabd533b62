"""A judge's partial results (graders/judge/report.py): rewritten whole after every check, each
grading's apart from another's in one folder, with the umask's mode."""
import json
import os
import stat

import pytest

from graders.judge import report
from graders.judge.jail import Level, SandboxInfo
from graders.judge.report import CheckOutcome, GradeReport, PartialResults, partial_results_path, rewrite_text


def _outcome(name, score, mistakes=()):
    status = "passed" if score else "failed"
    return CheckOutcome(name, name.split(".")[0], 1.0, score, status, "visible", output=f"{name} said so", mistakes=list(mistakes))


def test_partial_results_hold_exactly_the_reports_gradescope_results_after_every_rewrite(tmp_path):
    path = tmp_path / "results.partial.json"
    partial, outcomes = PartialResults(path), []
    mistake = {"id": "q1.flipped", "title": "kernel not flipped", "params": {"axis": 0}}
    steps = [_outcome("q1.a", 1.0), _outcome("q1.b", 0.0, [mistake, mistake]), _outcome("q2.c \"quoted\" é", 0.5)]
    for step, outcome in enumerate(steps):
        outcomes.append(outcome)
        graded = GradeReport(submission="s", outcomes=list(outcomes), running=None if step % 2 else outcome.name, execution_time=step)
        graded.sandbox = SandboxInfo(Level.LANDLOCK, "Landlock and resource limits") if step else None
        partial.write(graded)
        assert json.loads(path.read_text()) == graded.gradescope()
    # An outcome replaced in place (never done by the plugin) is encoded anew, and so is all after it.
    outcomes[1] = _outcome("q1.b", 1.0)
    graded = GradeReport(submission="s", outcomes=list(outcomes))
    partial.write(graded)
    assert json.loads(path.read_text()) == graded.gradescope()
    assert [test["score"] for test in json.loads(path.read_text())["tests"]] == [1.0, 1.0, 0.5]


def test_gradings_writing_results_into_one_folder_keep_their_partial_results_apart(tmp_path):
    """Two gradings at once, each with its own --grade-json in one folder, rewrite their
    partial results hundreds of times; neither may take or remove the other's temporary."""
    assert partial_results_path(tmp_path / "results.json") == tmp_path / "results.partial.json"
    paths = [partial_results_path(tmp_path / f"{name}.json") for name in ("first", "second")]
    assert paths[0] != paths[1]
    children = []
    for number, path in enumerate(paths):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for rewrite in range(400):
                    rewrite_text(path, json.dumps({"grading": number, "rewrite": rewrite}))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children] == [0, 0]
    assert [json.loads(path.read_text()) for path in paths] == [{"grading": number, "rewrite": 399} for number in range(2)]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchanged", "renamed"])
def test_the_partial_results_file_is_replaced_whole_with_the_umasks_mode(tmp_path, monkeypatch, exchange):
    if not exchange:  # a file system that refuses RENAME_EXCHANGE
        monkeypatch.setattr(report, "_exchange", lambda first, second: False)
    path = tmp_path / "new-folder" / "results.partial.json"
    first, second = {"tests": [{"name": "q1.a" * 50}], "running": "q1.a"}, {"tests": [], "running": None}
    mask = os.umask(0o027)
    try:
        report.rewrite_json(path, first)
        inode = path.stat().st_ino
        report.rewrite_json(path, second)  # shorter: nothing of the first may remain
        report.rewrite_json(path, first)
        report.rewrite_json(path, second)
    finally:
        os.umask(mask)
    assert json.loads(path.read_text()) == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    if exchange:  # two inodes take turns; beside the file, the version before it, whole
        assert sorted(os.listdir(path.parent)) == ["results.partial.json", "results.partial.json.tmp"]
        assert json.loads(path.with_name("results.partial.json.tmp").read_text()) == first
        assert path.with_name("results.partial.json.tmp").stat().st_ino == inode
    else:
        assert sorted(os.listdir(path.parent)) == ["results.partial.json"]
