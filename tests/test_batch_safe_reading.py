"""hw9-grade reads a student's files without following links or opening devices and FIFOs.

Every test runs under an alarm: a reader that opened the FIFO or /dev/zero would hang or
read forever, and fails here instead.
"""
import os
import signal
from pathlib import Path

import pytest

from graders.batch import judges, store
from graders.batch.fingerprint import content_hash
from graders.batch.html_report import write_report
from graders.batch.inputs import find_submissions, submission_files, submission_root, submission_size
from graders.batch.runner import prepare, submission_fingerprint
from graders.batch.unzip import InvalidSubmission, extract_zip
from tests.batch_helpers import folder_submission, zip_submission

Q1 = "x = 1\n"


@pytest.fixture(autouse=True)
def no_hang():
    def stop(signum, frame):
        raise TimeoutError("a reader blocked on a link, a device or a FIFO")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.py").write_text("SECRET = 1\n")
    (folder / "q1.py").write_text(Q1)
    return folder


@pytest.fixture
def hostile(tmp_path, outside):
    """A submission with one real file and a link or special file at every other name."""
    folder = folder_submission(tmp_path / "in", "mallory", Q1)
    (folder / "q_notes.py").symlink_to("/dev/zero")
    os.mkfifo(folder / "q2.py")
    (folder / "q3.py").symlink_to(outside / "secret.py")
    (folder / "lib").symlink_to(outside, target_is_directory=True)
    return folder


def test_hashing_and_sizing_read_only_the_regular_files(hostile, outside, tmp_path):
    plain = folder_submission(tmp_path / "plain", "mallory", Q1)
    assert list(submission_files(hostile)) == [Path("q1.py")]
    assert content_hash(hostile) == content_hash(plain)
    (outside / "secret.py").write_text("SECRET = 2\n")  # what a link points at is not part of the submission
    assert content_hash(hostile) == content_hash(plain)
    assert submission_size(hostile) == len(Q1)


def test_a_hostile_folder_is_prepared_for_grading_without_following_anything(hostile, tmp_path):
    [candidate], _ = find_submissions([hostile])
    job = prepare(candidate, store.Layout(tmp_path / "out"), submission_fingerprint(candidate.source, "g"))
    assert not job.invalid and job.submission == hostile and job.fingerprint


def test_class_folder_entries_that_are_links_or_special_files_are_skipped(tmp_path, outside):
    klass = tmp_path / "class"
    folder_submission(klass, "alice", Q1)
    (klass / "mallory").symlink_to(outside, target_is_directory=True)
    os.mkfifo(klass / "eve.zip")
    (klass / "dev.zip").symlink_to("/dev/zero")
    (klass / "link.zip").symlink_to(zip_submission(tmp_path / "real.zip", {"q1.py": Q1}))
    candidates, skipped = find_submissions([klass])
    assert [candidate.student for candidate in candidates] == ["alice"]
    assert {entry.path.name: entry.reason for entry in skipped} == {
        "dev.zip": "a symbolic link, not followed", "eve.zip": "a FIFO, not read",
        "link.zip": "a symbolic link, not followed", "mallory": "a symbolic link, not followed",
    }


def test_a_submission_whose_question_file_is_a_link_is_invalid_and_says_so(tmp_path, outside):
    folder = tmp_path / "class" / "mallory"
    folder.mkdir(parents=True)
    (folder / "q1.py").symlink_to(outside / "q1.py")
    with pytest.raises(InvalidSubmission, match=r"q1.py is a symbolic link: not read"):
        submission_root(folder)


def test_a_fifo_or_device_named_zip_is_invalid_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "eve.zip")
    [candidate], _ = find_submissions([tmp_path / "eve.zip"])
    assert candidate.is_zip and submission_fingerprint(candidate.source, "g") == ""
    job = prepare(candidate, store.Layout(tmp_path / "out"), "")
    assert "eve.zip: not read (a FIFO)" in job.invalid
    (tmp_path / "zero.zip").symlink_to("/dev/zero")
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        extract_zip(tmp_path / "zero.zip", tmp_path / "unpacked")


def test_links_planted_in_a_student_folder_do_not_stop_the_report(tmp_path):
    layout = store.Layout(tmp_path / "out")
    staging = layout.new_staging("mallory")
    (staging / "results.json").symlink_to("/dev/zero")
    os.mkfifo(staging / "grading.log")
    outcome = judges.outcome(staging, 0, False, 60)
    assert outcome.status == "crashed" and "unreadable results.json" in outcome.reason
    record = store.Record("mallory", outcome.status, outcome.reason, "s")
    store.commit(layout, record, staging)
    write_report(layout, store.load_records(layout))
    assert "unreadable results.json" in (layout.student_dir("mallory") / "index.html").read_text()
