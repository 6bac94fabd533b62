"""hw9-grade: finding and unpacking submissions, records and resume, reports, and real runs."""
import json
import os
import pty
import select
import signal
import stat
import sys
import time
import zipfile

import numpy as np
import pytest

from graders.batch import gallery_images, judges, processes, statistics, store
from graders.batch.fingerprint import content_hash, grader_fingerprint
from graders.batch.html_report import write_report
from graders.batch.inputs import find_submissions, submission_root
from graders.batch.progress import Progress
from graders.batch.runner import Runner, is_current, prepare
from graders.batch.unzip import InvalidSubmission, ZipLimits, extract_zip
from tests.batch_helpers import (
    MUTANT_Q1, REFERENCE_Q1, folder_submission, gradebook, processes_mentioning, run_grade, start_grade, zip_submission,
)

INFINITE_IMPORT = "while True:\n    pass\n"
# Past it the hanging submission is stopped: well above a Q1 grading on a busy machine, below
# the harness's own 120 s import time limit (which would grade it instead).
HANG_LIMIT = "60"


# ---- unpacking ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, reason",
    [("../evil.py", "outside"), ("/etc/evil.py", "absolute"), ("sub/../../evil.py", "outside"), ("C:/evil.py", "absolute")],
    ids=["dotdot", "absolute", "nested-dotdot", "drive-letter"],
)
def test_zip_path_escape_is_invalid(tmp_path, name, reason):
    archive = zip_submission(tmp_path / "s.zip", {"q1.py": "x = 1\n", name: "x = 2\n"})
    with pytest.raises(InvalidSubmission, match=reason):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlink_entry_is_invalid(tmp_path):
    link = zipfile.ZipInfo("q1.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        extract_zip(tmp_path / "s.zip", tmp_path / "out")


def test_zip_limits_count_bytes_actually_read(tmp_path):
    archive = zip_submission(tmp_path / "s.zip", {"q1.py": "x = 1\n" * 1000, "data.txt": "0" * 5000})
    with pytest.raises(InvalidSubmission, match="larger than"):
        extract_zip(archive, tmp_path / "a", ZipLimits(max_bytes=4000))
    with pytest.raises(InvalidSubmission, match="2 files"):
        extract_zip(archive, tmp_path / "b", ZipLimits(max_files=1))


def test_zip_in_one_folder_is_unwrapped_and_junk_dropped(tmp_path):
    archive = zip_submission(tmp_path / "s.zip", {"alice/hw9/q1.py": "x = 1\n", "__MACOSX/alice/._q1.py": "junk", "alice/hw9/.DS_Store": ""})
    root = extract_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "alice" / "hw9"
    assert sorted(path.name for path in root.iterdir()) == ["q1.py"]


def test_not_a_zip_is_invalid(tmp_path):
    (tmp_path / "s.zip").write_text("not a zip")
    with pytest.raises(InvalidSubmission, match="not a readable zip"):
        extract_zip(tmp_path / "s.zip", tmp_path / "out")


# ---- finding submissions -----------------------------------------------------------------

def test_class_folder_versus_single_submission(tmp_path):
    single = folder_submission(tmp_path, "zoe", "x = 1\n")
    klass = tmp_path / "class"
    folder_submission(klass, "alice", "x = 1\n")
    zip_submission(klass / "bob.zip", {"q1.py": "x = 1\n"})
    (klass / "notes.txt").write_text("not a submission")
    zip_submission(tmp_path / "alice.zip", {"q1.py": "x = 1\n"})
    candidates, skipped = find_submissions([single, klass, tmp_path / "alice.zip"])
    assert [(c.student, c.source.name, c.is_zip) for c in candidates] == [
        ("zoe", "zoe", False), ("alice", "alice", False), ("bob", "bob.zip", True), ("alice-2", "alice.zip", True),
    ]
    assert "also used" in candidates[3].note
    assert [(entry.path, entry.reason) for entry in skipped] == [(klass / "notes.txt", "not a folder, a .zip or a notebook (.ipynb)")]


def test_submission_without_question_files_names_what_it_found(tmp_path):
    folder = tmp_path / "alice"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "Q1.py").write_text("")
    (folder / "b").mkdir()
    with pytest.raises(InvalidSubmission, match="found a/Q1.py"):
        submission_root(folder)


def test_content_hash_follows_the_files(tmp_path):
    first = folder_submission(tmp_path, "a", "x = 1\n")
    second = folder_submission(tmp_path, "b", "x = 1\n")
    assert content_hash(first) == content_hash(second)
    (second / "q1.py").write_text("x = 2\n")
    assert content_hash(first) != content_hash(second)


# ---- records, resume rules, gradebook ------------------------------------------------------

def _record(student, status="graded", **fields):
    fields.setdefault("scores", {"q1": 20.0} if status == "graded" else {})
    return store.Record(student=student, status=status, reason="r", source="s", fingerprint="f", timeout=60.0, **fields)


@pytest.mark.parametrize(
    "status, fingerprint, timeout, expected",
    [
        ("graded", "f", 60, True), ("graded", "changed", 60, False), ("invalid", "f", 60, True),
        ("timeout", "f", 60, True), ("timeout", "f", 120, False), ("crashed", "f", 60, False),
    ],
    ids=["graded", "changed-files", "invalid", "timeout-same-limit", "timeout-longer-limit", "crashed"],
)
def test_which_records_a_rerun_keeps(status, fingerprint, timeout, expected):
    assert is_current(_record("a", status), fingerprint, timeout) is expected


def test_commit_swaps_whole_folders_and_gradebook_ignores_half_done(tmp_path):
    layout = store.Layout(tmp_path)
    for score in (10.0, 12.5):
        staging = layout.new_staging("alice")
        (staging / "results.json").write_text("{}")
        store.commit(layout, _record("alice", scores={"q1": score, "q2": 3.0}), staging)
    (layout.students / "bob").mkdir()  # a folder without a record: never committed
    store.commit(layout, _record("carol", "timeout"), layout.new_staging("carol"))
    records = store.write_gradebook(layout)
    assert sorted(records) == ["alice", "carol"]
    rows = gradebook(tmp_path, ignore=("seconds", "reason"))
    assert rows["alice"] == {"student_id": "alice", "q1": "12.5", "q2": "3", "q3": "", "q4": "", "total": "15.5", "status": "graded", "sandbox": ""}
    assert rows["carol"]["total"] == "" and rows["carol"]["status"] == "timeout"
    assert not list(layout.students.rglob("*.tmp"))


def test_record_refuses_unknown_status():
    with pytest.raises(ValueError, match="status must be one of"):
        _record("a", "lost")


# ---- statistics and report -----------------------------------------------------------------

FLIPPED = {"mistake": {"id": "q2.kernel-flipped", "title": "kernel flipped", "params": {}}}
RESULTS = {
    "ann": {"tests": [
        {"name": "q2.filter_cv2[blur]", "score": 0, "max_score": 1, "status": "failed", "output": "Checked: x\nLikely mistake: kernel flipped",
         "extra_data": FLIPPED},
        {"name": "q2.filter_cv2[sobel_x]", "score": 1, "max_score": 1, "status": "passed", "output": ""},
    ]},
    "ben": {"tests": [
        {"name": "q2.filter_cv2[blur]", "score": 0, "max_score": 1, "status": "failed", "output": "Likely mistake: kernel flipped", "extra_data": FLIPPED},
        {"name": "q2.filter_cv2[sobel_x]", "score": 0, "max_score": 1, "status": "failed", "output": "Likely mistake: kernel flipped", "extra_data": FLIPPED},
    ]},
}


def test_pass_rates_and_common_mistakes():
    [rate] = statistics.pass_rates(RESULTS)
    assert (rate.check, rate.cases_passed, rate.cases, rate.students_all_passed, rate.students) == ("q2.filter_cv2", 1, 4, 0, 2)
    [mistake] = statistics.common_mistakes(RESULTS)
    assert (mistake.id, mistake.title) == ("q2.kernel-flipped", "kernel flipped")
    assert mistake.students == ["ann", "ben"] and mistake.checks["q2.filter_cv2"] == 3


def test_report_links_every_student_page_and_back(tmp_path):
    layout = store.Layout(tmp_path)
    for student in ("ann", "b&<x>"):
        staging = layout.new_staging("s")
        (staging / "results.json").write_text(json.dumps(RESULTS.get(student, {"tests": []})))
        store.commit(layout, _record(student, scores={"q2": 1.0}, max_scores={"q2": 2.0}), staging)
    write_report(layout, store.load_records(layout))
    page = layout.report.read_text()
    assert 'href="students/b%26%3Cx%3E/index.html"' in page and "b&amp;&lt;x&gt;" in page
    assert "kernel flipped" in page and "q2.kernel-flipped" in page and "<script>" in page
    for student in ("ann", "b&<x>"):
        student_page = (layout.student_dir(student) / "index.html").read_text()
        assert 'href="../../report.html"' in student_page
    ann = (layout.student_dir("ann") / "index.html").read_text()
    assert "Likely mistake: <b>kernel flipped</b>" in ann and ann.index("kernel flipped") < ann.index("Checked: x")


def test_progress_prints_plain_lines_when_not_a_terminal(tmp_path):
    now = [0.0]
    with open(tmp_path / "log", "w") as stream:
        progress = Progress(3, stream=stream, clock=lambda: now[0])
        now[0] = 10.0
        progress.update(_record("ann", max_scores={"q1": 25.0}))
        now[0] = 20.0
        progress.update(_record("ben", "timeout"))
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines[0].startswith("[1/3] ann: graded 20/25") and "ETA 20s" in lines[0]
    assert lines[1].startswith("[2/3] ben: timeout: r") and "1 failed" in lines[1]


def test_progress_redraws_one_bar_on_a_terminal():
    main, terminal = pty.openpty()
    now = [0.0]
    with os.fdopen(terminal, "w") as stream:
        progress = Progress(2, stream=stream, clock=lambda: now[0])
        progress.start()
        now[0] = 30.0
        progress.update(_record("ben", "timeout"))
        progress.close()
        shown = b""
        while select.select([main], [], [], 0.5)[0]:
            shown += os.read(main, 4096)
    os.close(main)
    text = shown.decode()
    assert "\r\x1b[K[" in text and "ben: timeout: r" in text
    assert "[##############..............] 1/2 done, 1 failed, elapsed 30s, ETA 30s" in text


# ---- Q2 pictures -------------------------------------------------------------------------------

def test_display_shares_the_reference_scale():
    reference = np.array([[-4.0, 0.0, 4.0]])
    np.testing.assert_array_equal(gallery_images.to_display(reference, reference), [[1, 128, 255]])
    np.testing.assert_array_equal(gallery_images.to_display(2 * reference, reference), [[0, 128, 255]])
    assert gallery_images.test_image().shape == (64, 64, 3) and gallery_images.test_image().dtype == np.uint8
    assert "not an image" in gallery_images.displayable(np.zeros((4, 4, 5)))


# ---- the runner, with stand-in judges -------------------------------------------------------------

_WRITE_RESULTS = "import json, sys; json.dump({'tests': [{'name': 'q1.a', 'score': 2, 'max_score': 3}]}, open(sys.argv[1], 'w'))"
# Stand-in judges: what each does, and the status it must get.
FAKE_JUDGES = {
    "graded": (_WRITE_RESULTS + "; sys.exit(1)", "graded"),
    # Stopped at the time limit while shutting down, with every result written: graded.
    "slow-exit": (_WRITE_RESULTS + "; import time; time.sleep(600)", "graded"),
    "crashed": ("import sys; print('Traceback: RubricError'); sys.exit(3)", "crashed"),
    # Like a judge whose worker hangs: the grandchild has a session of its own.
    "hanging": ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True); time.sleep(600)", "timeout"),
}


def test_runner_classifies_and_kills_whole_trees(tmp_path, monkeypatch):
    def fake_start(submission, staging, temporary, options):
        script = FAKE_JUDGES[submission.name][0]
        return processes.spawn([sys.executable, "-c", script, str(staging / "results.json")], staging / "grading.log", dict(os.environ), tmp_path)

    monkeypatch.setattr(judges, "start_judge", fake_start)
    layout = store.Layout(tmp_path / "out")
    options = judges.GradingOptions(jobs=len(FAKE_JUDGES), timeout=3.0)
    jobs = []
    for name in FAKE_JUDGES:
        candidate = find_submissions([folder_submission(tmp_path / "in", name, "x = 1\n")])[0][0]
        jobs.append(prepare(candidate, layout, "f"))
    records = {}
    Runner(layout, options, on_record=lambda record: records.setdefault(record.student, record)).run(jobs)
    assert {name: record.status for name, record in records.items()} == {name: status for name, (_, status) in FAKE_JUDGES.items()}
    assert records["graded"].scores == {"q1": 2.0} and "1 of 1 checks lost points" in records["graded"].reason
    assert "exited with code 3" in records["crashed"].reason and "RubricError" in records["crashed"].reason
    assert not processes_mentioning("while True: pass") and not processes_mentioning("time.sleep(600)")


# ---- real runs of hw9-grade (Q1 only, to stay quick) ---------------------------------------------

@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A class folder: two correct Q1s (one zipped in a folder), a mutant, a broken and a hostile zip."""
    root = tmp_path_factory.mktemp("class")
    folder_submission(root, "alice", REFERENCE_Q1)
    folder_submission(root, "frank", MUTANT_Q1)
    zip_submission(root / "erin.zip", {"erin_hw9/q1.py": REFERENCE_Q1})
    (root / "carol.zip").write_text("not a zip")
    zip_submission(root / "dave.zip", {"q1.py": REFERENCE_Q1, "../evil.py": "import os\n"})
    hanging = folder_submission(tmp_path_factory.mktemp("late"), "bob", INFINITE_IMPORT)
    return root, hanging


def graders_fingerprint():
    return grader_fingerprint(judges.GradingOptions(jobs=1, timeout=1, questions=("q1",)).fingerprinted())


def skip_if_graders_changed(since):
    """A grade is reused only while the graders are unchanged; in a tree being edited they may not be."""
    if graders_fingerprint() != since:
        pytest.skip("the graders' files changed during the test, so nothing could be reused")


@pytest.fixture(scope="module")
def uninterrupted(klass, tmp_path_factory):
    root, hanging = klass
    out = tmp_path_factory.mktemp("uninterrupted")
    fingerprint = graders_fingerprint()
    # The hanging submission first, so its time limit runs alongside the others' grading.
    code, output = run_grade(hanging, root, "--out", out, "--only", "q1", "--jobs", "2", "--timeout", HANG_LIMIT)
    assert code == 3, output
    return out, output, fingerprint


def test_class_run_gives_one_row_per_submission(uninterrupted):
    out, output, _ = uninterrupted
    rows = gradebook(out, ignore=("seconds", "reason", "student_id", "sandbox"))
    assert rows == {
        "alice": {"q1": "25", "q2": "", "q3": "", "q4": "", "total": "25", "status": "graded"},
        "bob": {"q1": "", "q2": "", "q3": "", "q4": "", "total": "", "status": "timeout"},
        "carol": {"q1": "", "q2": "", "q3": "", "q4": "", "total": "", "status": "invalid"},
        "dave": {"q1": "", "q2": "", "q3": "", "q4": "", "total": "", "status": "invalid"},
        "erin": {"q1": "25", "q2": "", "q3": "", "q4": "", "total": "25", "status": "graded"},
        # 17.01: a check's points are split over its cases in hundredths, the remainder to the first cases.
        "frank": {"q1": "17.01", "q2": "", "q3": "", "q4": "", "total": "17.01", "status": "graded"},
    }, output
    reasons = {student: row["reason"] for student, row in gradebook(out).items()}
    assert "outside" in reasons["dave"] and "not a readable zip" in reasons["carol"] and f"{HANG_LIMIT} s" in reasons["bob"]
    # The judge's partial results name the check its time ran out in (its import hangs).
    assert "stopped while running q1." in reasons["bob"] and "no check had finished" in reasons["bob"], reasons["bob"]
    sandboxes = {student: row["sandbox"] for student, row in gradebook(out).items()}
    assert sandboxes["alice"] in ("namespaces", "landlock", "none") and sandboxes["carol"] == ""
    for student in rows:
        results = json.loads((out / "students" / student / "results.json").read_text())
        assert results["max_score"] > 0 and isinstance(results["tests"], list)
    assert not (out / "evil.py").exists() and not (out / ".staging").exists()
    assert not processes_mentioning(str(out))
    page = (out / "report.html").read_text()
    assert all(f'href="students/{student}/index.html"' in page for student in rows)
    assert 'href="students/frank/index.html">frank</a></td>' in page.split('id="mistakes"')[1]
    assert "q1.minmax-swapped" in page.split('id="mistakes"')[1]
    assert "Likely mistake:" in (out / "students" / "frank" / "index.html").read_text()
    frank = json.loads((out / "students" / "frank" / "results.json").read_text())
    named = {test["extra_data"]["mistake"]["id"] for test in frank["tests"] if "extra_data" in test}
    assert "q1.minmax-swapped" in named, frank["tests"]


def test_rerun_skips_what_is_graded_and_force_regrades(uninterrupted, klass):
    out, _, fingerprint = uninterrupted
    root, hanging = klass
    before = gradebook(out, ignore=())
    skip_if_graders_changed(fingerprint)
    code, output = run_grade(root, hanging, "--out", out, "--only", "q1", "--timeout", HANG_LIMIT)
    skip_if_graders_changed(fingerprint)
    assert code == 3 and "6 already graded and unchanged, 0 to grade" in output, output
    assert gradebook(out, ignore=()) == before
    code, output = run_grade(root / "carol.zip", "--out", out, "--only", "q1", "--force")
    assert code == 3 and "1 to grade" in output, output


def test_killed_run_resumes_to_the_same_gradebook(uninterrupted, klass, tmp_path):
    out, _, fingerprint = uninterrupted
    root, _ = klass
    running = start_grade(root, "--out", tmp_path, "--only", "q1", "--jobs", "1", "--timeout", "300")
    deadline = time.monotonic() + 240
    graded = lambda: [p for p in (tmp_path / "students").glob("*/record.json") if '"graded"' in p.read_text()]
    while not graded() and time.monotonic() < deadline and running.poll() is None:
        time.sleep(0.2)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    done = {path.parent.name for path in (tmp_path / "students").glob("*/record.json")}
    assert done and done != {"alice", "carol", "dave", "erin", "frank"}, "the kill came too late to interrupt anything"
    time.sleep(1)
    assert not processes_mentioning(str(tmp_path))
    # Resumed with fresh interpreters as judges: they must grade exactly as the forked ones did.
    code, output = run_grade(root, "--out", tmp_path, "--only", "q1", "--jobs", "2", "--timeout", "300", "--no-preload")
    assert code == 3, output
    if graders_fingerprint() == fingerprint:  # else the graders changed meanwhile and all was regraded
        assert f"{len(done)} already graded and unchanged" in output, output
    expected = gradebook(out)
    expected.pop("bob")
    assert gradebook(tmp_path) == expected


def test_a_spawned_judge_starts_with_the_parents_objects_frozen_and_the_parent_keeps_collecting(tmp_path):
    import gc

    assert gc.get_freeze_count() == 0
    log = tmp_path / "judge.log"
    pid = processes.spawn(lambda: 0 if gc.get_freeze_count() > 1000 else 1, log, dict(os.environ), tmp_path)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, log.read_text()
    assert gc.get_freeze_count() == 0


def test_the_runner_wakes_when_a_judge_ends_not_at_its_next_poll(tmp_path):
    from graders.batch.runner import Job

    layout = store.Layout(tmp_path / "out")
    runner = Runner(layout, judges.GradingOptions(jobs=1, timeout=600), on_record=lambda record: None)
    pid = processes.spawn([sys.executable, "-c", "pass"], tmp_path / "judge.log", dict(os.environ), tmp_path)
    job = Job("s", tmp_path, "f", tmp_path / "staging", tmp_path / "scratch", pid=pid, pidfd=os.pidfd_open(pid))
    runner.running[pid] = job

    def too_late(signum, frame):
        raise TimeoutError("the runner slept through its judge's end")

    previous = signal.signal(signal.SIGALRM, too_late)
    signal.alarm(60)
    try:
        runner._wait(3600)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert os.waitpid(pid, 0)[0] == pid
    os.close(job.pidfd)
