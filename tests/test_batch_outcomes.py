"""What a judge's end means: partial results on a timeout or crash, a disturbed grading,
internal grader errors, the sandbox column; results read defensively."""
import json
import os
import signal
import sys

import pytest

from graders.batch import judges, processes, store
from graders.batch.html_report import write_report
from graders.batch.inputs import find_submissions
from graders.batch.runner import Runner, prepare
from tests.batch_helpers import folder_submission, gradebook

FINISHED = [
    {"name": "q1.conv2d[a]", "score": 2.0, "max_score": 2.0, "status": "passed", "output": "", "visibility": "visible"},
    {"name": "q1.conv2d[b]", "score": 0.0, "max_score": 2.0, "status": "failed", "output": "wrong", "visibility": "visible"},
    {"name": "q2.blur[c]", "score": 1.5, "max_score": 1.5, "status": "passed", "output": "", "visibility": "visible"},
]


def results(tests=FINISHED, **hw9):
    return {
        "score": sum(test["score"] for test in tests), "max_score": sum(test["max_score"] for test in tests),
        "output": "", "visibility": "visible", "tests": tests,
        "extra_data": {"hw9": {"sandbox": {"level": "namespaces", "description": "bubblewrap namespaces"}, "running": None,
                               "disturbed": None, "internal_errors": [], **hw9}},
    }


def staged(tmp_path, **files):
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    for name, data in files.items():
        (staging / name.replace("_", ".")).write_text(data if isinstance(data, str) else json.dumps(data))
    return staging


def test_a_timeout_keeps_the_points_of_the_finished_checks(tmp_path):
    staging = staged(tmp_path, results_partial_json=results(running="q3.architecture[golden]"))
    outcome = judges.outcome(staging, signal.SIGKILL, True, 600)
    assert outcome.status == "timeout" and outcome.stopped_early and outcome.sandbox == "namespaces"
    assert outcome.reason == (
        "grading did not finish within 600 s and was stopped while running q3.architecture[golden]; "
        "3 finished checks kept their points"
    )
    assert [test["name"] for test in outcome.results["tests"]] == [test["name"] for test in FINISHED]
    assert outcome.results["score"] == 3.5 and outcome.results["output"].startswith("Grading stopped before it finished")


def test_a_crash_keeps_the_finished_points_and_says_what_ran(tmp_path):
    # The running check, should a partial file ever list it, is not kept.
    running = {"name": "q2.blur[d]", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "", "visibility": "visible"}
    staging = staged(tmp_path, results_partial_json=results(FINISHED + [running], running="q2.blur[d]"), grading_log="Segfault Error here\n")
    outcome = judges.outcome(staging, signal.SIGSEGV, False, 600)
    assert outcome.status == "crashed"
    assert outcome.reason == (
        "the grading process was killed by SIGSEGV while running q2.blur[d]; 3 finished checks kept their points; Segfault Error here"
    )
    assert "q2.blur[d]" not in [test["name"] for test in outcome.results["tests"]]


OLDER = results(FINISHED[:1], running="q1.conv2d[b]")
NEWER = results(running="q3.architecture[golden]")


@pytest.mark.parametrize(
    "files, kept",
    [
        ({"results_partial_json_tmp": NEWER}, FINISHED),  # stopped between the unlink and the rename (no exchange)
        ({"results_partial_json": NEWER, "results_partial_json_tmp": OLDER}, FINISHED),  # after an exchange
        ({"results_partial_json": OLDER, "results_partial_json_tmp": json.dumps(NEWER)[:-40]}, FINISHED[:1]),  # while writing
        ({"results_partial_json": OLDER, "results_partial_json_tmp": NEWER}, FINISHED[:1]),  # before its exchange
    ],
    ids=["only-the-temporary", "an-exchanged-temporary", "a-cut-temporary", "an-uncommitted-temporary"],
)
def test_a_judge_stopped_while_rewriting_its_partial_results_keeps_the_newest_committed_ones(tmp_path, files, kept):
    outcome = judges.outcome(staged(tmp_path, **files), signal.SIGKILL, True, 600)
    assert outcome.status == "timeout" and outcome.stopped_early
    assert [test["name"] for test in outcome.results["tests"]] == [test["name"] for test in kept]


def test_a_disturbed_grading_is_crashed_with_its_points_shown(tmp_path):
    staging = staged(tmp_path, results_json=results(disturbed="the worker's limits were changed from outside"))
    outcome = judges.outcome(staging, 0, False, 600)
    assert (outcome.status, outcome.reason) == ("crashed", "grading was disturbed from outside: the worker's limits were changed from outside")
    assert outcome.results["tests"] == FINISHED and not outcome.stopped_early


def test_internal_grader_errors_are_named_and_the_grade_stands(tmp_path):
    staging = staged(tmp_path, results_json=results(internal_errors=["q1.conv2d[b]"]))
    outcome = judges.outcome(staging, 0, False, 600)
    assert outcome.status == "graded"
    assert outcome.reason == "1 of 3 checks lost points; internal grader error in: q1.conv2d[b]"


@pytest.mark.parametrize(
    "extra", [None, {"hw9": "odd"}, {"hw9": {"sandbox": ["x"], "disturbed": 5, "internal_errors": "q1", "running": 3}}],
    ids=["old-results", "hw9-not-an-object", "odd-values"],
)
def test_results_without_or_with_odd_hw9_data_are_plainly_graded(tmp_path, extra):
    data = {"tests": FINISHED} if extra is None else {"tests": FINISHED, "extra_data": extra}
    outcome = judges.outcome(staged(tmp_path, results_json=data), 0, False, 600)
    assert (outcome.status, outcome.reason, outcome.sandbox) == ("graded", "1 of 3 checks lost points", "")


@pytest.mark.parametrize(
    "text", ["[1, 2]", '{"tests": [{"name": "q1.a", "score": "all"}]}', '{"tests": [{"score": 1}]}', "[" * 100000, "{"],
    ids=["not-an-object", "score-not-a-number", "no-name", "deeply-nested", "truncated"],
)
def test_results_that_are_not_results_are_a_crash_with_the_reason(tmp_path, text):
    outcome = judges.outcome(staged(tmp_path, results_json=text), 0, False, 600)
    assert outcome.status == "crashed" and "unreadable results.json" in outcome.reason


# Stand-in judges writing what the plugin writes: the partial file after each check, results.json at the end.
_PARTIAL = (
    "import json, os, signal, sys, time\n"
    f"partial = {json.dumps(results(running='q3.architecture[golden]'))!r}\n"
    "open(sys.argv[1] + '/results.partial.json', 'w').write(partial)\n"
    "os.chmod(sys.argv[1] + '/results.partial.json', 0o600)\n"
)
JUDGES = {
    "slow": (_PARTIAL + "time.sleep(600)", "timeout"),
    "killed": (_PARTIAL + "os.kill(os.getpid(), signal.SIGKILL)", "crashed"),
    "done": (f"import json, sys; json.dump({results()!r}, open(sys.argv[1] + '/results.json', 'w'))", "graded"),
}


def test_stopped_gradings_keep_their_points_in_every_output(tmp_path, monkeypatch):
    def start(submission, staging, temporary, options):
        command = [sys.executable, "-c", JUDGES[submission.name][0], str(staging)]
        return processes.spawn(command, staging / "grading.log", dict(os.environ), tmp_path)

    monkeypatch.setattr(judges, "start_judge", start)
    layout = store.Layout(tmp_path / "out")
    jobs = [prepare(find_submissions([folder_submission(tmp_path / "in", name, "x = 1\n")])[0][0], layout, "f") for name in JUDGES]
    Runner(layout, judges.GradingOptions(jobs=len(JUDGES), timeout=3.0), on_record=lambda record: None).run(jobs)
    records = store.write_gradebook(layout)
    write_report(layout, records)
    rows = gradebook(layout.out, ignore=("seconds", "student_id"))
    assert {name: row["status"] for name, row in rows.items()} == {name: status for name, (_, status) in JUDGES.items()}
    for name in JUDGES:
        assert (rows[name]["q1"], rows[name]["q2"], rows[name]["total"], rows[name]["sandbox"]) == ("2", "1.5", "3.5", "namespaces")
    assert "stopped while running q3.architecture[golden]; 3 finished checks kept their points" in rows["slow"]["reason"]
    assert rows["killed"]["reason"].startswith("the grading process was killed by SIGKILL (possibly out of memory) while running q3.architecture[golden]")
    assert records["slow"].fingerprint == "f" and records["killed"].fingerprint == ""  # a crash is retried, a timeout is not
    for name in ("slow", "killed"):
        folder = layout.student_dir(name)
        written = json.loads((folder / "results.json").read_text())
        assert [test["name"] for test in written["tests"]] == [test["name"] for test in FINISHED]
        assert "Grading stopped before it finished" in written["output"] and not (folder / "results.partial.json").exists()
        assert (written["score"], written["max_score"]) == (3.5, 100)  # out of the whole rubric, not of what finished
        assert "conv2d[b]" in (folder / "index.html").read_text()  # the finished checks' feedback is shown
    page = layout.report.read_text()
    assert "<td>namespaces</td>" in page and "sandbox: 3 namespaces" in page
    assert "namespaces: bubblewrap namespaces" in (layout.student_dir("done") / "index.html").read_text()
