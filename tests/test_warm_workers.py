"""Warm workers: forked from a fork server into their own sandbox, unable to reach it or each other."""
import json
import os
import select
import socket
import textwrap
import threading

import pytest

from graders import layout
from graders.judge import jail, warm
from graders.judge.harness import Failure

pytestmark = pytest.mark.skipif(jail.planned_level() is not jail.Level.NAMESPACES, reason="warm workers need the namespaces sandbox")

# What a worker can see of the machine: every process its /proc lists, and its own open fds.
LOOK_AROUND = textwrap.dedent("""
    import os, signal

    def processes():
        seen = {}
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    seen[pid] = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode(errors='replace')
                except OSError:
                    seen[pid] = '?'
        return seen

    def fds():
        found = {}
        for fd in os.listdir('/proc/self/fd'):
            try:
                found[fd] = os.readlink(f'/proc/self/fd/{fd}')
            except OSError:
                pass  # the listing's own fd, closed by now
        return found

    def kill(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError as error:
            return type(error).__name__
        return 'sent'

    def crash():
        os.kill(os.getpid(), signal.SIGSEGV)

    def identity():
        return [os.getpid(), os.getuid(), os.getppid()]

    def frozen_objects():
        import gc
        return gc.get_freeze_count()
""")


@pytest.fixture
def student(tmp_path, open_submission):
    def open_student(name="student", warm_workers=True):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "q1.py").write_text(LOOK_AROUND)
        return open_submission(folder, memory_gb=2.0, import_timeout=60, warm=warm_workers)

    return open_student


def _forked(submission):
    assert submission.call("q1", "identity").ok
    assert submission.sandbox.description.endswith(warm.FORKED), submission.sandbox.description
    return submission._worker.forked


def test_a_forked_worker_sees_only_its_sandbox(student):
    submission = student()
    _forked(submission)
    seen = submission.call("q1", "processes").value
    own = str(submission.call("q1", "identity").value[0])
    others = {pid: line for pid, line in seen.items() if pid != own}  # its own command line is the fork server's
    assert not any("graders.worker.zygote" in line or "-m pytest" in line for line in others.values()), seen
    assert len(others) == 2, seen  # bubblewrap's init and the process holding the sandbox, nothing outside


def test_a_forked_worker_holds_no_socket_and_no_fd_of_the_fork_server(student):
    submission = student()
    _forked(submission)
    fds = submission.call("q1", "fds").value
    assert not any(target.startswith("socket:") for target in fds.values()), fds
    assert len(fds) == 5, fds  # stdin, the log as stdout and stderr, its two pipes: nothing inherited
    assert sum(target.startswith("pipe:") for target in fds.values()) == 2, fds


def test_a_forked_worker_cannot_signal_the_fork_server_nor_another_worker(student):
    first, second = student("first"), student("second")
    other = _forked(second)
    _forked(first)
    server = warm.fork_server()
    for pid in (other.pid, os.getpid(), *([server.process.pid] if server.process else [])):
        assert first.call("q1", "kill", pid).value in ("ProcessLookupError", "PermissionError"), pid
    assert second.call("q1", "identity").ok
    assert server.process is None or server.process.poll() is None
    uid_first, uid_second = first.call("q1", "identity").value[1], second.call("q1", "identity").value[1]
    assert uid_first != uid_second or not jail.is_root()


def test_a_crash_restarts_a_forked_worker(student):
    submission = student()
    _forked(submission)
    crashed = submission.call("q1", "crash")
    assert crashed.failure is Failure.CRASH and "SIGSEGV" in crashed.message, crashed
    assert submission.call("q1", "identity").ok
    assert submission.sandbox.description.endswith(warm.FORKED)


def test_a_forked_worker_inherits_the_libraries_objects_frozen(student):
    """Its collector never walks (and so never copies) the fork server's million objects; a fresh worker has none."""
    forked = student("forked")
    _forked(forked)
    assert forked.call("q1", "frozen_objects").value > 100_000
    fresh = student("fresh", warm_workers=False)
    assert fresh.call("q1", "frozen_objects").value == 0


def test_the_forked_workers_cpu_time_is_counted(student):
    before = warm.forked_cpu_seconds
    submission = student()
    _forked(submission)
    submission.close()
    assert warm.forked_cpu_seconds > before


def test_warm_workers_off_starts_a_fresh_interpreter_and_says_so(student):
    submission = student(warm_workers=False)
    assert submission.call("q1", "identity").ok
    assert submission.sandbox.description.endswith("a fresh interpreter: warm workers are off")


def _die_holding_the_request(control):
    """A fork server killed mid-request: its end of the reply socket closes with the request unread."""
    _, (reply,), _, _ = socket.recv_fds(control, 16, 1)
    select.select([reply], [], [], 30)
    os.close(reply)


@pytest.mark.parametrize(
    "dies, why", [(False, "cannot be reached"), (True, "ended before it read the request")], ids=["unreachable", "dies-holding-the-request"],
)
def test_a_fork_server_that_fails_means_a_fresh_interpreter_with_the_reason(student, monkeypatch, dies, why):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = threading.Thread(target=_die_holding_the_request, args=(theirs,))
    if dies:
        server.start()
    else:
        theirs.close()
    monkeypatch.setattr(warm, "_local", warm.ForkServer(ours))
    submission = student()
    assert submission.call("q1", "identity").ok
    assert f"a fresh interpreter: the fork server {why}" in submission.sandbox.description
    if dies:
        server.join()
        theirs.close()
    ours.close()


@pytest.mark.skipif(jail.planned_level() < jail.Level.LANDLOCK, reason="needs a Landlock sandbox beside the namespaces one")
def test_a_landlock_worker_leaves_the_judges_own_fork_server_alive(student):
    # Without namespaces a judge kills its children that are not workers after every call
    # (daemons it adopted); the fork server it started is its child too, and no stray.
    _forked(student("warm"))
    server = warm.fork_server().process
    landlock = student("landlock")
    landlock.settings.level = jail.Level.LANDLOCK
    assert landlock.call("q1", "identity").ok
    assert landlock.call("q1", "identity").ok  # the strays are killed after each call
    # A killed server may not have exited yet; a SIGKILLed one never forks again.
    _forked(student("warm-again"))
    assert warm.fork_server().process is server and server.poll() is None


def test_a_fork_server_that_finds_forking_unsafe_refuses_and_says_why(tmp_path, monkeypatch):
    from graders.worker import zygote

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # a fork server whose trial fork failed
        ours.close()
        zygote.quietly_import = lambda names: ""
        zygote._try_a_fork = lambda: "a forked child could not use TensorFlow, NumPy and OpenCV"
        zygote.serve(theirs)
        os._exit(0)
    theirs.close()
    try:
        request = zygote.ForkRequest(cwd=str(tmp_path))
        read, write = os.pipe()
        with pytest.raises(warm.Unavailable, match="a forked child could not use TensorFlow"):
            warm.fork_worker(warm.ForkServer(ours), request, (read, write, write))
        os.close(read)
        os.close(write)
    finally:
        ours.close()
        os.waitpid(pid, 0)


def test_the_class_fork_server_is_inherited_through_its_fd(monkeypatch):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    monkeypatch.setenv(warm.FD_VARIABLE, str(theirs.fileno()))
    inherited = warm.inherited_fork_server()
    assert inherited is not None and inherited.control.fileno() == theirs.fileno() and inherited.process is None
    monkeypatch.setenv(warm.FD_VARIABLE, "not a number")
    assert warm.inherited_fork_server() is None
    ours.close()
    theirs.close()


def test_the_fork_server_exits_when_no_judge_holds_its_socket():
    server = warm.start_fork_server()
    pid = server.process.pid
    server.close()
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow  # whole hw9-grade runs, as tests/test_containment.py's class run
def test_every_judge_of_a_class_forks_its_workers_from_the_one_fork_server(tmp_path):
    """hw9-grade keeps its fork server alive from the first judge to the last (it is not a stray)."""
    from tests.batch_helpers import run_grade

    for name in ("ann", "ben", "cid"):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "q2.py").write_bytes((layout.REFERENCE_SUBMISSION / "q2.py").read_bytes())
    code, output = run_grade(tmp_path / "class", "--out", tmp_path / "out", "--only", "q2", "--jobs", "1")
    assert code == 0 and "workers fork from one fork server" in output, output
    for name in ("ann", "ben", "cid"):
        results = json.loads((tmp_path / "out" / "students" / name / "results.json").read_text())
        assert results["extra_data"]["hw9"]["sandbox"]["description"].endswith(warm.FORKED), name
        assert results["extra_data"]["hw9"]["forked_worker_cpu_seconds"] > 0, name
    code, output = run_grade(tmp_path / "class", "--out", tmp_path / "cold", "--only", "q2", "--no-warm-workers")
    results = json.loads((tmp_path / "cold" / "students" / "ann" / "results.json").read_text())
    assert code == 0 and results["extra_data"]["hw9"]["sandbox"]["description"].endswith("a fresh interpreter: warm workers are off")


@pytest.mark.slow  # whole hw9-grade runs, as tests/test_containment.py's class run
def test_a_fork_server_is_started_only_where_it_pays_off(tmp_path):
    """A fork server of its own (--no-preload) pays off for two submissions or more whose graded
    questions run Keras; the one forked from hw9-grade (the default) costs no import of its own,
    so even one submission's worker forks from it."""
    from tests.batch_helpers import REFERENCE_Q1, folder_submission, run_grade

    for name in ("ann", "ben"):
        folder_submission(tmp_path / "class", name, REFERENCE_Q1)
    code, output = run_grade(tmp_path / "class", "--out", tmp_path / "out", "--only", "q1", "--no-preload")
    assert code == 0 and "workers start as fresh interpreters: the questions graded run no Keras in the worker" in output, output
    code, output = run_grade(tmp_path / "class" / "ann", "--out", tmp_path / "one", "--only", "q1,q2", "--no-preload")
    assert "workers start as fresh interpreters: fewer than two submissions to grade" in output, output
    code, output = run_grade(tmp_path / "class" / "ann", "--out", tmp_path / "hosted", "--only", "q1,q2")
    assert "workers fork from one fork server forked from hw9-grade" in output, output
    results = json.loads((tmp_path / "hosted" / "students" / "ann" / "results.json").read_text())
    assert results["extra_data"]["hw9"]["sandbox"]["description"].endswith(warm.FORKED)
