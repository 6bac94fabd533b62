"""hw9-grade's contract with its caller: exit codes, --fail-under, the options passed to every
judge and fingerprinted, the end-of-run summary, the progress line, paths in the outputs,
what a timeout leaves, the gradebook's order and encoding."""
import csv
import fcntl
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, replace

import pytest

from graders import layout as project_layout
from graders.batch import cli, command, judges, processes, store
from graders.batch.command import ExitCode, exit_code, throughput
from graders.batch.fingerprint import grader_fingerprint
from graders.batch.progress import Progress
from graders.batch.store import Record, Status
from graders.cifar10 import search
from tests.batch_helpers import fake_judges, folder_submission, grade_here, gradebook, zip_submission

# A judge by student name (the submission folder's name): what each does.
PASS = {"name": "q1.a", "score": 3, "max_score": 3, "status": "passed", "output": ""}
LOSE = {"name": "q1.b", "score": 0, "max_score": 3, "status": "failed", "output": "wrong"}
JUDGE = """
import json, os, pathlib, sys, time
staging, submission = sys.argv[1], sys.argv[2]
name = pathlib.Path(submission).name
results = {{"tests": [{pass_}], "extra_data": {{"hw9": {{"restarts": 0}}}}}}
if name.startswith("low"):
    results["tests"].append({lose})
if name.startswith("restarted"):
    results["extra_data"]["hw9"]["restarts"] = 2
if name.startswith("slow"):
    partial = {{"tests": [{pass_}], "extra_data": {{"hw9": {{"running": "q3.tuner_search[cifar]"}}}}}}
    json.dump(partial, open(staging + "/results.partial.json", "w"))
    time.sleep(600)
if name.startswith("crash"):
    print("RuntimeError: cannot read " + staging + "/q2/none.png")
    sys.exit(3)
print("hw9 grade: " + submission)
print("Gradescope results written to " + staging + "/results.json")
results["tests"][0]["output"] = "graded " + submission + " into " + staging
json.dump(results, open(staging + "/results.json", "w"))
""".format(pass_=json.dumps(PASS), lose=json.dumps(LOSE))


def klass(tmp_path, *names):
    root = tmp_path / "class"
    root.mkdir()
    for name in names:
        if name.endswith(".zip"):
            zip_submission(root / name, {f"{name[:-4]}/q1.py": "x = 1\n"})
        elif name.startswith("invalid"):
            (root / name).mkdir()
        else:
            folder_submission(root, name, "x = 1\n")
    return root


def graded(monkeypatch, tmp_path, *names, options=()):
    """Grade a class of `names` with the fake judges (2 s each at most); the exit code."""
    fake_judges(monkeypatch, JUDGE)
    return grade_here(monkeypatch, klass(tmp_path, *names), "--out", tmp_path / "out", "--timeout", "2", *options)


# ---- 1, 2: exit codes and --fail-under -----------------------------------------------------

@pytest.mark.parametrize(
    "names, options, expected",
    [
        (("ann", "ben"), (), ExitCode.GRADED),
        (("ann", "invalid-cy"), (), ExitCode.NOT_GRADED),
        (("ann", "slow-dan"), (), ExitCode.NOT_GRADED),
        (("ann", "crash-eve"), (), ExitCode.NOT_GRADED),
        (("ann", "low-fay"), ("--fail-under", "4"), ExitCode.BELOW_FAIL_UNDER),
        (("ann", "low-fay"), ("--fail-under", "3"), ExitCode.GRADED),  # 3 is not below 3
        (("ann", "low-fay"), (), ExitCode.GRADED),  # lost points are no failure without --fail-under
        (("low-fay", "invalid-cy"), ("--fail-under", "4"), ExitCode.NOT_GRADED),  # not graded comes first
    ],
    ids=["all-graded", "invalid", "timeout", "crashed", "below", "at-the-bar", "no-bar", "both"],
)
def test_the_exit_code_says_whether_every_submission_was_graded(tmp_path, monkeypatch, capsys, names, options, expected):
    assert graded(monkeypatch, tmp_path, *names, options=options) == expected
    out = capsys.readouterr().out
    assert (f"exit code {expected.value}: " in out) is (expected is not ExitCode.GRADED), out


def test_a_rerun_with_nothing_to_grade_keeps_the_exit_code(tmp_path, monkeypatch, capsys):
    assert graded(monkeypatch, tmp_path, "ann", "invalid-cy") == ExitCode.NOT_GRADED
    code = grade_here(monkeypatch, tmp_path / "class", "--out", tmp_path / "out", "--timeout", "2", "--fail-under", "1")
    assert code == ExitCode.NOT_GRADED and "2 already graded and unchanged, 0 to grade" in capsys.readouterr().out
    # Only the submissions named count: ann alone is graded, whatever else the gradebook holds.
    code = grade_here(monkeypatch, tmp_path / "class" / "ann", "--out", tmp_path / "out", "--timeout", "2")
    assert code == ExitCode.GRADED and "1 submission: 1 graded (the gradebook holds 2 submissions)" in capsys.readouterr().out


def test_exit_code_lists_who_failed_and_who_is_below():
    records = {name: Record(name, status, "r", "s", scores=scores) for name, status, scores in [
        ("ann", Status.GRADED, {"q1": 20.0}), ("ben", Status.GRADED, {"q1": 5.0}), ("cy", Status.TIMEOUT, {"q1": 5.0}),
    ]}
    assert exit_code(["ann", "ben"], records, 10) == (ExitCode.BELOW_FAIL_UNDER, "1 submission below --fail-under 10: ben (5)")
    assert exit_code(["ann", "cy", "dan"], records, 10) == (ExitCode.NOT_GRADED, "2 submissions not graded: cy (timeout), dan (no record)")
    assert exit_code(["ann", "ben"], records) == (ExitCode.GRADED, "")


def test_usage_errors_exit_2_before_grading(tmp_path, monkeypatch, capsys):
    root = klass(tmp_path, "ann")
    bad = tmp_path / "rubric.yaml"
    bad.write_text("checks: [oops\n")
    for arguments in (("--rubric", tmp_path / "none.yaml"), ("--rubric", bad), ("--fail-under", "nan"), ("--worker-memory-gb", "0")):
        assert grade_here(monkeypatch, root, "--out", tmp_path / "out", *arguments) == ExitCode.USAGE
        assert "hw9-grade: error: " in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert grade_here(monkeypatch, root, "--out", tmp_path / "out") == ExitCode.USAGE
    assert "another hw9-grade is writing to" in capsys.readouterr().err


def test_a_failure_of_hw9_grade_itself_exits_4(monkeypatch, capsys):
    def broken(argv, hosted=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(command, "run", broken)
    assert cli.main(["x", "--out", "y"]) == cli.INTERNAL_ERROR == ExitCode.INTERNAL_ERROR
    assert "RuntimeError: a bug" in capsys.readouterr().err


def test_the_help_documents_every_exit_code_and_the_cifar10_variable():
    shown = subprocess.run([sys.executable, "-m", "graders.batch.cli", "--help"], capture_output=True, text=True, check=True).stdout
    epilog = shown.split("exit codes", 1)[1]
    for code in ExitCode:
        assert f"\n  {code.value} " in epilog, code
    assert "--fail-under SCORE" in shown and "--slow" in shown and "HW9_CIFAR10" in epilog


# ---- 3: options passed to every judge, and fingerprinted --------------------------------------

def test_every_option_that_changes_a_grade_reaches_the_judge(tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_bytes(project_layout.DEFAULT_RUBRIC.read_bytes())
    options = judges.GradingOptions(jobs=1, timeout=1, seed=7, rubric=rubric, worker_memory_gb=12.5, slow=True)
    arguments = judges.judge_arguments("sub", judges.Path("relative/staging"), options)
    value = lambda option: arguments[arguments.index(option) + 1]
    assert (value("--rubric"), value("--worker-memory-gb"), value("--grading-seed")) == (str(rubric), "12.5", "7")
    assert value("-m") == judges.SLOW_SELECTION == "slow or not (slow or gpu)"
    assert value("--grade-json") == os.path.abspath("relative/staging/results.json")  # the judge runs elsewhere
    assert store.Layout("relative/out").out == store.Layout(os.path.abspath("relative/out")).out
    assert "-m" not in judges.judge_arguments("sub", judges.Path("s"), judges.GradingOptions(jobs=1, timeout=1))
    plain = judges.judge_arguments("sub", judges.Path("s"), judges.GradingOptions(jobs=1, timeout=1))
    assert plain[plain.index("--rubric") + 1] == str(project_layout.DEFAULT_RUBRIC)
    assert judges.CIFAR10_ENV == search.PATH_ENV == "HW9_CIFAR10"  # the variable the loader reads, as the README names it


def test_the_judges_get_hw9_cifar10_but_no_settings_variable(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HW9_CIFAR10", "/data/cifar")
    monkeypatch.setenv("HW9_RUBRIC", "/elsewhere.yaml")
    monkeypatch.setenv("HW9_WORKER_MEMORY_GB", "1")
    env = judges.judge_environment(judges.GradingOptions(jobs=1, timeout=1), tmp_path)
    assert env["HW9_CIFAR10"] == "/data/cifar" and "HW9_RUBRIC" not in env and "HW9_WORKER_MEMORY_GB" not in env
    assert judges.ignored_settings_variables() == ["HW9_RUBRIC", "HW9_WORKER_MEMORY_GB"]
    graded(monkeypatch, tmp_path, "ann")
    assert "HW9_RUBRIC is not passed to the judges" in capsys.readouterr().out


def test_the_options_that_change_a_grade_change_the_fingerprint(tmp_path, monkeypatch):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_bytes(project_layout.DEFAULT_RUBRIC.read_bytes())
    base = dict(jobs=1, timeout=1, rubric=rubric)
    fingerprint = lambda **changes: grader_fingerprint(judges.GradingOptions(**{**base, **changes}).fingerprinted())
    first = fingerprint()
    assert fingerprint(rubric=project_layout.DEFAULT_RUBRIC) == first  # the content counts, not the path
    assert len({first, fingerprint(worker_memory_gb=16), fingerprint(slow=True), fingerprint(seed=1)}) == 4
    assert fingerprint(jobs=2, timeout=5, require_sandbox="landlock", preload=False) == first
    monkeypatch.setenv("HW9_CIFAR10", "/other/data")
    with_data = fingerprint(slow=True)
    assert fingerprint() == first  # the data matter to the slow checks only
    monkeypatch.delenv("HW9_CIFAR10")
    assert fingerprint(slow=True) != with_data
    rubric.write_text(rubric.read_text() + "\n# moved a point\n")
    assert fingerprint() != first


def test_a_rerun_with_other_options_regrades(tmp_path, monkeypatch, capsys):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_bytes(project_layout.DEFAULT_RUBRIC.read_bytes())
    assert graded(monkeypatch, tmp_path, "ann", options=("--rubric", rubric)) == ExitCode.GRADED
    again = lambda *options: grade_here(monkeypatch, tmp_path / "class", "--out", tmp_path / "out", "--rubric", rubric, *options)
    capsys.readouterr()
    for options, to_grade in [((), 0), (("--worker-memory-gb", "4"), 1), (("--worker-memory-gb", "4"), 0), (("--slow", "--worker-memory-gb", "4"), 1)]:
        assert again(*options) == ExitCode.GRADED
        assert f"{to_grade} to grade" in capsys.readouterr().out, options
    rubric.write_text(rubric.read_text() + "\n")
    again("--slow", "--worker-memory-gb", "4")
    assert "1 to grade" in capsys.readouterr().out


def test_the_command_line_options_reach_the_judges(tmp_path, monkeypatch):
    seen = []

    def start(submission, staging, temporary, options):
        seen.append(judges.judge_arguments(submission, staging, options))
        command = [sys.executable, "-c", f"import json, sys; json.dump({{'tests': [{PASS!r}]}}, open(sys.argv[1] + '/results.json', 'w'))", str(staging)]
        return processes.spawn(command, staging / "grading.log", dict(os.environ), staging)

    monkeypatch.setattr(judges, "start_judge", start)
    root = klass(tmp_path, "ann")
    rubric = tmp_path / "rubric.yaml"
    rubric.write_bytes(project_layout.DEFAULT_RUBRIC.read_bytes())
    options = ("--rubric", rubric, "--worker-memory-gb", "3", "--grading-seed", "5", "--slow")
    assert grade_here(monkeypatch, root, "--out", tmp_path / "out", *options) == ExitCode.GRADED
    [arguments] = seen
    assert [arguments[arguments.index(option) + 1] for option in ("--rubric", "--worker-memory-gb", "--grading-seed", "-m")] == [
        str(rubric), "3", "5", judges.SLOW_SELECTION,
    ]


# ---- 4: the summary ------------------------------------------------------------------------

def test_the_summary_counts_each_status_and_says_one_submission(tmp_path, monkeypatch, capsys):
    assert graded(monkeypatch, tmp_path, "slow-dan") == ExitCode.NOT_GRADED
    out = capsys.readouterr().out
    assert "hw9-grade: 1 submission, 0 already graded and unchanged, 1 to grade" in out
    summary, timing = out.split("\n1 submission: ", 1)[1].splitlines()[:2]
    assert summary == "1 timeout" and re.fullmatch(r"1 grading in [\d.]+ s \(1 timeout\), [\d.]+ s of CPU; the first started [\d.]+ s after hw9-grade was launched", timing), out


def _record(name, status, cpu=2.0):
    return Record(name, status, "r", "s", cpu_seconds=cpu)


def test_throughput_per_core_only_when_it_means_something():
    two = [_record("a", Status.GRADED), _record("b", Status.TIMEOUT), _record("c", Status.INVALID)]
    assert throughput(two, 20.0, 2) == (
        "2 gradings in 20 s (1 graded, 1 timeout): 10.0 s of wall time each, 20.0 s per submission per core (2 cores), 2.0 s of CPU each"
    )
    assert throughput(two[:1], 20.0, 2) == "1 grading in 20 s (1 graded), 2.0 s of CPU"
    assert throughput(two, 0.3, 1) == "2 gradings in 0.3 s (1 graded, 1 timeout), 2.0 s of CPU each"
    assert throughput(two[2:], 5.0, 2) == ""


def test_throughput_names_the_start_up_that_no_number_of_jobs_shortens():
    two = [_record("a", Status.GRADED), _record("b", Status.GRADED)]
    assert throughput(two, 6.0, 2, startup=2.64) == (
        "2 gradings in 6.0 s (2 graded): 3.0 s of wall time each, 6.0 s per submission per core (2 cores), 2.0 s of CPU each; "
        "the first started 2.6 s after hw9-grade was launched"
    )
    assert throughput(two[:1], 0.5, 2, startup=0.04) == "1 grading in 0.5 s (1 graded), 2.0 s of CPU; the first started 0.0 s after hw9-grade was launched"
    assert throughput([_record("c", Status.INVALID)], 5.0, 2, startup=1.0) == ""


# ---- 5: the progress line counts restarted workers --------------------------------------------

def test_progress_counts_graded_submissions_whose_worker_restarted():
    stream = io.StringIO()
    progress = Progress(3, stream=stream, clock=lambda: 0.0)
    progress.update(Record("ann", Status.GRADED, "r", "s", scores={"q1": 3.0}, max_scores={"q1": 6.0}, restarts=1))
    progress.update(Record("ben", Status.CRASHED, "r", "s", restarts=1))
    progress.update(Record("cy", Status.GRADED, "r", "s"))
    lines = stream.getvalue().splitlines()
    assert "ann: graded 3/6 in 0.0 s, its worker restarted 1 time" in lines[0] and "0 failed, 1 with worker restarts," in lines[0]
    assert "1 failed, 1 with worker restarts," in lines[2]


def test_restarts_reach_the_record_and_the_progress_line(tmp_path, monkeypatch, capsys):
    assert graded(monkeypatch, tmp_path, "restarted-ann") == ExitCode.GRADED
    assert "its worker restarted 2 times (1/1 done, 0 failed, 1 with worker restarts," in capsys.readouterr().out
    assert store.read_record(tmp_path / "out" / "students" / "restarted-ann").restarts == 2


def test_a_record_keeps_when_its_grading_started(tmp_path, monkeypatch):
    before = time.time()
    assert graded(monkeypatch, tmp_path, "ann", "invalid-cy") == ExitCode.NOT_GRADED
    after = time.time()
    ann, cy = (store.read_record(tmp_path / "out" / "students" / name) for name in ("ann", "invalid-cy"))
    assert before <= ann.started_at <= ann.started_at + ann.seconds <= after + 0.01, (before, ann, after)
    assert before <= cy.started_at <= after  # an invalid submission is recorded when its turn comes
    old = tmp_path / "old"
    old.mkdir()
    kept = {key: value for key, value in asdict(ann).items() if key != "started_at"}  # a record from before started_at
    (old / "record.json").write_text(json.dumps(kept))
    assert store.read_record(old) == replace(ann, started_at=0.0)


def test_seconds_since_launch_counts_from_the_process_start_across_exec(tmp_path):
    script = "import time, os, sys; time.sleep(0.4); os.execv(sys.executable, [sys.executable, '-c', " \
             "'from graders.batch import processes; print(processes.seconds_since_launch())'])"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=project_layout.PROJECT_ROOT)
    assert 0.4 <= float(done.stdout) < 30, done.stdout


# ---- 6, 7: no staging path in the outputs; what a timeout leaves -------------------------------

def test_no_output_names_the_staging_folder(tmp_path, monkeypatch):
    graded(monkeypatch, tmp_path, "ann", "bob.zip", "crash-eve", "slow-dan")
    students = tmp_path / "out" / "students"
    for path in students.rglob("*"):
        if path.is_file():
            assert ".staging" not in path.read_text(errors="replace"), path
    assert f"hw9 grade: {tmp_path / 'class' / 'bob.zip'}/bob\n" in (students / "bob" / "grading.log").read_text()
    assert f"written to {students / 'ann' / 'results.json'}\n" in (students / "ann" / "grading.log").read_text()
    output = json.loads((students / "bob" / "results.json").read_text())["tests"][0]["output"]
    assert output == f"graded {tmp_path / 'class' / 'bob.zip'}/bob into {students / 'bob'}"
    assert f"cannot read {students / 'crash-eve' / 'q2' / 'none.png'}" in gradebook(tmp_path / "out")["crash-eve"]["reason"]


def test_a_timeout_says_what_ran_in_the_gradebook_the_record_and_the_log(tmp_path, monkeypatch):
    assert graded(monkeypatch, tmp_path, "slow-dan") == ExitCode.NOT_GRADED
    why = "grading did not finish within 2 s and was stopped while running q3.tuner_search[cifar]; 1 finished check kept its points"
    assert gradebook(tmp_path / "out")["slow-dan"]["reason"] == why
    folder = tmp_path / "out" / "students" / "slow-dan"
    assert json.loads((folder / "record.json").read_text())["reason"] == why
    last = (folder / "grading.log").read_text().splitlines()[-1]
    assert last.startswith("hw9-grade: grading was stopped after ") and last.endswith(
        " s (the time limit is 2 s) while running q3.tuner_search[cifar]"
    ), last


def test_every_scratch_path_is_named_by_what_it_stood_for(tmp_path):
    from graders.batch.inputs import find_submissions
    from graders.batch.runner import moved_paths, prepare, relocated

    layout = store.Layout(tmp_path / "out")
    [candidate], _ = find_submissions([zip_submission(tmp_path / "bob.zip", {"q1.py": "x = 1\n"})])
    job = prepare(candidate, layout, "f")
    worker = job.scratch / "tmp" / "hw9-worker-ab" / "submission" / "q1.py"
    text = relocated(f"{job.submission}/q1.py; {worker}; {job.staging}/results.json; {job.scratch}/x", moved_paths(job, layout))
    assert text == f"{tmp_path / 'bob.zip'}/q1.py; $TMPDIR/hw9-worker-ab/submission/q1.py; {layout.student_dir('bob')}/results.json; (scratch folder)/x"


def test_paths_are_replaced_across_chunk_boundaries(tmp_path):
    old, new = b"/out/.staging/ann-x1", b"/out/students/ann"
    text = b"".join(bytes([65 + i % 26]) * (i % 7) + old + b"\n" for i in range(50))
    for chunk in (1, 3, len(old) - 1, len(old), 64):
        source = tmp_path / "log"
        source.write_bytes(text)
        with open(source, "rb") as reading, open(tmp_path / "out", "wb") as target:
            store._replace_stream(reading.fileno(), target, {old: new, old + b"/sub": b"inner"}, chunk=chunk)
        assert (tmp_path / "out").read_bytes() == text.replace(old, new), chunk


def test_rewriting_never_follows_a_link_nor_opens_a_fifo(tmp_path):
    target = tmp_path / "secret"
    target.write_text("/out/.staging/x")
    (tmp_path / "link.log").symlink_to(target)
    os.mkfifo(tmp_path / "fifo.log")
    for name in ("link.log", "fifo.log"):
        store.rewrite_file(tmp_path / name, {b"/out/.staging/x": b"y"}, b"note\n")
    assert target.read_text() == "/out/.staging/x" and (tmp_path / "link.log").is_symlink()
    store.rewrite_file(tmp_path / "absent.log", {}, b"note\n")
    assert (tmp_path / "absent.log").read_text() == "note\n"


# ---- 8: the gradebook ----------------------------------------------------------------------

def test_the_gradebook_is_sorted_case_insensitively_with_a_bom_and_blank_cells(tmp_path):
    out = store.Layout(tmp_path / "out")
    for student in ("bob", "alice", "Émile", "Alice", "Zoe", "carl"):
        scores = {"q1": float("nan")} if student == "carl" else {"q1": 1.0}
        store.commit(out, Record(student, Status.GRADED if student != "Zoe" else Status.TIMEOUT, "r", "s", scores=scores), out.new_staging(student))
    store.write_gradebook(out)
    data = out.gradebook.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfstudent_id,") and "Émile".encode() in data
    with open(out.gradebook, newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["student_id"] for row in rows] == ["Alice", "alice", "bob", "carl", "Zoe", "Émile"]
    carl = rows[3]
    assert (carl["q1"], carl["q2"], carl["total"]) == ("", "", "")  # never "nan" or "None"
    assert all(row["q4"] == "" for row in rows)
