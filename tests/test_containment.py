"""Containment end to end: what a hostile submission leaves behind once it is graded.

The corpus's hostile entries say what each attack must score; these tests grade some of
them as an instructor does and then look outside the grade: at the processes still
running, at a TCP listener on this machine's loopback, at a class's files and grades.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from graders.judge import jail
from graders.judge.harness import planned_level
from graders.judge.submission import Submission
from graders.layout import CORPUS_DIR, PROJECT_ROOT
from graders.selftest import expectations, run
from graders.selftest.compare import compare
from graders.worker import sandbox
from tests.batch_helpers import gradebook, run_grade

ROOT = PROJECT_ROOT
SETTLE_SECONDS = 10.0  # how long a killed process may take to leave /proc (a bound, not a measurement)
QUESTION_FILES = ("q1.py", "q2.py", "q3.py", "q4.py")
MARK = "HOSTILE_WAS_HERE"  # what the corpus's hostile entries leave where they manage to write
SANDBOXES = ["namespaces", "no-namespaces"]


@pytest.fixture(params=SANDBOXES)
def sandbox_level(request, monkeypatch):
    """The default sandbox, or the fallback that HW9_NO_NAMESPACES=1 forces (for this process and its children)."""
    if request.param == "no-namespaces":
        monkeypatch.setenv("HW9_NO_NAMESPACES", "1")
    jail.namespaces_unavailable.cache_clear()
    level = planned_level()
    if request.param == "namespaces" and level is not jail.Level.NAMESPACES:
        pytest.skip(f"no namespaces here: {jail.namespaces_unavailable()}")
    yield level
    monkeypatch.undo()
    jail.namespaces_unavailable.cache_clear()


def _live_processes_with(marker):
    """Pids whose command line holds `marker`, zombies aside (they are only waiting to be reaped)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command_line = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if state != "Z" and marker.encode() in command_line:
            found.append(int(entry))
    return found


def survivors(marker):
    """Processes with `marker` still alive once they had time to die; killed before returning."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (found := _live_processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in found:  # never leave a submission's daemon running, whatever the test concludes
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


def copy_with_fresh_marker(entry_name, destination):
    """The corpus entry copied to `destination`, its MARKER replaced by one unique to this test."""
    shutil.copytree(CORPUS_DIR / entry_name, destination)
    marker = f"hw9-containment-{uuid.uuid4().hex}"
    for path in destination.glob("q*.py"):
        path.write_text(re.sub(r'^MARKER = ".*"$', f'MARKER = "{marker}"', path.read_text(), flags=re.M))
    assert marker in "".join(path.read_text() for path in destination.glob("q*.py")), f"{entry_name} has no MARKER"
    return destination, marker


def _sandbox_description(results):
    return results["extra_data"]["hw9"]["sandbox"]["description"]


def test_no_daemon_outlives_its_grading(tmp_path, sandbox_level):
    folder, marker = copy_with_fresh_marker("hostile-daemon", tmp_path / "hostile-daemon")
    graded = run.grade_entry(expectations.load_entry(folder), tmp_path / "corpus", timeout=600)
    left = survivors(marker)
    assert graded.results is not None, graded.differences
    assert not left, f"processes of the submission outlived its grading: {left}"
    assert not graded.differences, graded.differences


@pytest.mark.corpus
@pytest.mark.parametrize("entry_name", ["hostile-prlimit", "hostile-recon", "hostile-write-others", "hostile-poison-oracle-cache"])
def test_without_namespaces_the_hostile_entries_are_contained_too(tmp_path, monkeypatch, entry_name):
    if sandbox.landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel: without namespaces workers get rlimits only")
    monkeypatch.setenv("HW9_NO_NAMESPACES", "1")  # for hw9-grade, its judges and their workers
    graded = run.grade_entry(expectations.load_entry(CORPUS_DIR / entry_name), tmp_path / "corpus", timeout=600)
    assert graded.results is not None, graded.differences
    description = _sandbox_description(graded.results)
    assert description.startswith("landlock:"), description
    assert not graded.differences, graded.differences


CONNECT = """
import socket

def connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return "connected"
    except OSError as error:
        return f"failed: {type(error).__name__}: {error}"
"""


@pytest.fixture
def loopback_listener():
    """A TCP server on 127.0.0.1 (a free port), in a thread until the test ends: (port, peers it accepted)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_a_worker_cannot_reach_a_loopback_listener(tmp_path, sandbox_level, loopback_listener):
    if sandbox_level is not jail.Level.NAMESPACES and sandbox.landlock_abi() < 4:
        pytest.skip(f"without namespaces only Landlock ABI 4+ blocks TCP; this kernel has ABI {sandbox.landlock_abi()}")
    port, accepted = loopback_listener
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "q1.py").write_text(CONNECT)
    submission = Submission(folder, memory_gb=2, import_timeout=60)
    try:
        result = submission.call("q1", "connect", port)
        assert submission.sandbox.level is sandbox_level
    finally:
        submission.close()
    assert result.ok, result.message
    assert result.value.startswith("failed:"), f"the worker reached the judge's loopback listener on port {port}"
    # The judge's own connection, accepted after any the worker's handshake had queued before it.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as judge:
        own = judge.getsockname()
        deadline = time.monotonic() + SETTLE_SECONDS
        while own not in accepted and time.monotonic() < deadline:
            time.sleep(0.05)
    assert accepted == [own], f"the listener accepted connections besides the judge's own {own}: {accepted}"


UNIX_CONNECT = """
import socket

def connect(path):
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            return "connected"
    except OSError as error:  # no socket at all (seccomp without namespaces), or no connection
        return f"failed: {type(error).__name__}: {error}"
"""


def test_a_worker_cannot_reach_a_unix_socket_of_the_host(tmp_path, sandbox_level):
    path = tmp_path / "judge.sock"  # as a database's, an X server's or docker's socket would be
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "q1.py").write_text(UNIX_CONNECT)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        path.chmod(0o777)  # the file's permissions let anyone in: only the sandbox may stop it
        server.listen()
        submission = Submission(folder, memory_gb=2, import_timeout=60)
        try:
            result = submission.call("q1", "connect", str(path))
        finally:
            submission.close()
        server.setblocking(False)
        try:
            server.accept()[0].close()
            reached = True
        except BlockingIOError:
            reached = False
    assert result.ok, result.message
    assert not reached and result.value.startswith("failed:"), result.value


def _hashes(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


def _scores(row):
    return {question: row[question] for question in (*expectations.QUESTIONS, "total", "status")}


@pytest.mark.slow
def test_a_class_attacker_changes_no_classmate_grade_or_file(tmp_path):
    klass = tmp_path / "submissions"  # the layout README suggests, which the attacker guesses
    (klass / "s001").mkdir(parents=True)
    for name in QUESTION_FILES:
        shutil.copyfile(ROOT / "solutions" / name, klass / "s001" / name)
    shutil.copytree(CORPUS_DIR / "q4-padding-once", klass / "s002", ignore=shutil.ignore_patterns("expected.yaml"))
    _, marker = copy_with_fresh_marker("hostile-class-attacker", klass / "s003")
    (klass / "s003" / "expected.yaml").unlink()
    # A name that is not UTF-8 (a zip from an old Windows archiver) must neither stop the batch nor lose the grade.
    with zipfile.ZipFile(os.fsdecode(os.fsencode(klass) + b"/caf\xe9-s004.zip"), "w") as archive:
        for name in QUESTION_FILES:
            archive.write(ROOT / "solutions" / name, name)
    before = _hashes(klass)
    # Judges, forked as by default, put each worker's folder under --out: the attacker then
    # reads the class's and the grades' real paths off its own working folder.
    code, output = run_grade(klass, "--out", tmp_path / "grades", "--jobs", "2", timeout=1200)
    left = survivors(marker)
    assert code == 0, output[-3000:]
    assert not left, f"the attacker's daemon outlived the class run: {left}"
    assert _hashes(klass) == before, "a classmate's submission changed while the class was graded"
    assert not list(tmp_path.rglob(MARK)), "the attacker left a mark outside its work folder"
    rows = gradebook(tmp_path / "grades")

    for victim in ("s001", "s002"):
        code, output = run_grade(klass / victim, "--out", tmp_path / f"alone-{victim}", "--jobs", "1", timeout=900)
        assert code == 0, output[-3000:]
        assert _scores(rows[victim]) == _scores(gradebook(tmp_path / f"alone-{victim}")[victim]), victim
    assert rows["caf%E9-s004"]["total"] == "100" and rows["caf%E9-s004"]["status"] == "graded", rows.get("caf%E9-s004")

    expected = expectations.load_entry(CORPUS_DIR / "hostile-class-attacker").expected
    results = json.loads((tmp_path / "grades" / "students" / "s003" / "results.json").read_text())
    assert compare(results, expected, absent_questions=("q2", "q3")) == []
    tally = next(test["output"] for test in results["tests"] if test["name"].startswith("q1.conv_input_rank"))
    assert "classmates=20" in tally, f"the attacker did not find its classmates' ids, so it aimed at nothing: {tally}"
