"""What a submission's process can no longer do to the judge: exchange files, forged answers, hangs, limits."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from graders import layout
from graders.judge import jail, safe_files
from graders.judge.harness import Failure, planned_level
from graders.judge.submission import Submission
from graders.worker import protocol
from tests.batch_helpers import run_grade

ROOT = layout.PROJECT_ROOT

# Finds the worker's response pipe and the id of the request being served, as a hostile
# submission would, and writes `answer` (a JSON value) as that request's answer.
FORGE = """
import inspect, json, os
def forge(value):
    frame = inspect.currentframe()
    while frame is not None and "responses" not in frame.f_locals:  # the worker's serving loop
        frame = frame.f_back
    request_id = frame.f_locals["request"].id  # the worker's Request being answered
    line = json.dumps({"id": request_id, "ok": True, "value": value}) + "\\n"
    os.write(frame.f_locals["responses"].fileno(), line.encode())  # the pipe the serving loop answers on
    os._exit(0)  # the forged line is the only answer
"""


@pytest.fixture
def graded(tmp_path):
    opened = []

    def open_submission(memory_gb=2.0, **modules):
        folder = tmp_path / "student"
        folder.mkdir(exist_ok=True)
        for name, source in modules.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
        submission = Submission(folder, memory_gb=memory_gb, import_timeout=30)
        opened.append(submission)
        return submission

    yield open_submission
    for submission in opened:
        submission.close()


@pytest.fixture(params=[jail.Level.NAMESPACES, jail.Level.LANDLOCK], ids=lambda level: level.label)
def level(request):
    """Each sandbox level this platform can give a worker."""
    if request.param > planned_level():
        pytest.skip(f"this platform gives workers {planned_level().label} only")
    return request.param


def _npy(path, array):
    np.save(path, array, allow_pickle=False)
    return path


def test_exchange_folder_reads_only_regular_files_within_the_budget(tmp_path):
    _npy(tmp_path / "r1.npy", np.arange(10))
    np.testing.assert_array_equal(protocol.ExchangeFolder(tmp_path).load("r1.npy"), np.arange(10))
    os.mkfifo(tmp_path / "r2.npy")
    (tmp_path / "r3.npy").symlink_to(tmp_path / "r1.npy")
    with open(tmp_path / "r4.npy", "wb") as sparse:
        sparse.truncate(2**30)
    (tmp_path / "r5.npy").write_bytes(b"not an array")
    cases = {"r2.npy": "not a regular file", "r3.npy": "cannot be opened", "r4.npy": "size limit", "r5.npy": "not a valid .npy", "../r1.npy": "not one the protocol writes"}
    for name, words in cases.items():
        with pytest.raises(protocol.MalformedAnswer, match=words):
            protocol.ExchangeFolder(tmp_path, max_bytes=2**20).load(name)


def test_the_budget_counts_every_array_of_one_answer(tmp_path):
    for index in range(3):
        _npy(tmp_path / f"r{index}.npy", np.zeros(100_000, dtype=np.uint8))
    folder = protocol.ExchangeFolder(tmp_path, max_bytes=250_000)
    folder.load("r0.npy")
    folder.load("r1.npy")
    with pytest.raises(protocol.MalformedAnswer, match="size limit"):
        folder.load("r2.npy")


def test_safe_files_refuse_links_fifos_and_oversized_files(tmp_path):
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "big.py").write_bytes(b"#" * 2000)
    assert safe_files.read_regular_file(tmp_path / "ok.py", 100) == b"x = 1\n"
    for name, words in {"zero.py": "symbolic link", "fifo.py": "FIFO", "big.py": "larger than"}.items():
        with pytest.raises(safe_files.UnsafeFile, match=words):
            safe_files.read_regular_file(tmp_path / name, 1000)
    skipped = []
    assert [str(path) for path in safe_files.iter_regular_files(tmp_path, skipped)] == ["big.py", "ok.py"]
    assert sorted(skipped) == [("fifo.py", "a FIFO"), ("zero.py", "a symbolic link")]


@pytest.mark.parametrize(
    "value, words",
    [
        ({"__ndarray__": "../../../etc/passwd"}, "not one the protocol writes"),
        ({"__ndarray__": "r999999.npy"}, "cannot be opened"),
        ({"__tuple__": 5}, "tuple that is not a list"),
        ({"__bigint__": "9" * 6000}, "does not write"),
    ],
    ids=["path-escape", "missing-file", "bad-tuple", "huge-int"],
)
def test_a_forged_answer_on_the_pipe_is_a_malformed_call(graded, value, words):
    import json

    submission = graded(q1=FORGE + f"def f():\n    forge(json.loads({json.dumps(value)!r}))\n")
    result = submission.call("q1", "f")
    assert not result.ok and result.failure is Failure.MALFORMED, result
    assert words in result.message


def test_a_forged_fifo_answer_does_not_hang_the_judge(graded):
    source = FORGE + "def f():\n    os.mkfifo('r77.npy')\n    forge({'__ndarray__': 'r77.npy'})\n"
    result = graded(q1=source).call("q1", "f", timeout=20)
    assert result.failure is Failure.MALFORMED and "not a regular file" in result.message, result


def test_a_sparse_gigabyte_answer_is_refused_unread(graded):
    source = FORGE + textwrap.dedent(
        """
        import numpy as np
        def f():
            header = np.lib.format.header_data_from_array_1_0(np.zeros(0, dtype=np.uint8))
            header["shape"] = (2**30 - 4096,)  # just under the worker's 1 GiB file-size limit
            with open("r55.npy", "wb") as out:
                np.lib.format.write_array_header_1_0(out, header)
                out.truncate(2**30 - 4096 + 128)
            forge({"__ndarray__": "r55.npy"})
        """
    )
    result = graded(q1=source).call("q1", "f", timeout=20)
    assert result.failure is Failure.MALFORMED and "size limit" in result.message, result


def test_a_function_that_hung_is_not_called_again(graded):
    source = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ndef hang(x=0):\n    while True:\n        pass\ndef f():\n    return 1\n"
    submission = graded(q1=source)
    first = submission.call("q1", "hang", timeout=1)
    assert first.failure is Failure.TIMEOUT and "timed out after 1 s" in first.message
    for argument in (1, 2):
        again = submission.call("q1", "hang", argument, timeout=1)
        assert again.failure is Failure.TIMEOUT and again.message == "not run: an earlier call of `hang` timed out after 1 s"
    assert submission.call("q1", "f").value == 1
    assert len(submission.events) == 1, "one worker restart, not one per call"


def test_the_worker_sees_only_the_allowlisted_environment(graded, monkeypatch):
    monkeypatch.setenv("HW9_JUDGE_SECRET", "grading-seed-1234")
    submission = graded(q1="import os\ndef env():\n    return sorted(os.environ)\n")
    names = submission.call("q1", "env").value
    assert "HW9_JUDGE_SECRET" not in names and not any(name.startswith("PYTEST") for name in names)
    own = {"HOME", "KERAS_HOME", "TMPDIR", "MPLCONFIGDIR", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PATH", "CUDA_VISIBLE_DEVICES", "PWD", "USER", "LOGNAME"}
    assert set(names) <= own | set(jail.ENVIRONMENT_ALLOWED), set(names) - own - set(jail.ENVIRONMENT_ALLOWED)


@pytest.mark.skipif(planned_level() is not jail.Level.NAMESPACES, reason="no namespaces on this platform")
def test_in_namespaces_the_worker_sees_no_other_process_and_runs_as_its_own_uid(graded):
    source = "import os\ndef look():\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), os.getuid()\n"
    submission = graded(q1=source)
    pids, uid = submission.call("q1", "look").value
    assert max(pids) < 10, pids  # bwrap's init, the worker and its threads' group leaders only
    if jail.is_root():
        assert uid >= jail.UID_BASE and uid == submission._worker.uid
    assert submission.sandbox.level is jail.Level.NAMESPACES


def test_limits_changed_from_outside_mark_the_grading_disturbed(graded, tmp_path, monkeypatch):
    submission = graded(q1="def f():\n    return 1\n")
    submission.settings.level = jail.Level.LANDLOCK  # no PID namespace: reachable from here
    # In a folder other users cannot reach, the worker keeps the grader's uid, as a neighbour would be.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path.parent).chmod(0o700)
    assert submission.call("q1", "f").value == 1 and not submission.disturbed
    assert submission._worker.uid is None
    import resource

    # What a neighbour's prlimit() would do; only the judge (or root outside) can here.
    try:
        resource.prlimit(_worker_python_pid(submission), resource.RLIMIT_AS, (2**30, 2**30))
    except (PermissionError, ProcessLookupError) as error:
        pytest.skip(f"cannot change the worker's limits from here: {error}")
    submission.call("q1", "f")
    assert "memory limit was changed from outside" in submission.disturbed


def _worker_python_pid(submission):
    """The python process inside the sandbox: the deepest descendant of the worker's Popen."""
    pid = submission._worker.process.pid
    while True:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if not children:
            return pid
        pid = int(children[0])


def test_require_sandbox_refuses_to_grade_below_the_level(tmp_path):
    env = {**os.environ, "HW9_NO_NAMESPACES": "1"}
    command = [sys.executable, "-m", "pytest", str(ROOT / "graders" / "questions"), "-p", "no:cacheprovider", "-q", "--questions", "q1", "--require-sandbox", "namespaces"]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 4, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "--require-sandbox namespaces: workers here get only landlock" in completed.stderr


def test_processes_a_call_started_die_when_it_ends(graded, level):
    source = textwrap.dedent(
        """
        import subprocess, sys
        def spawn():
            child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"], start_new_session=True)
            return child.pid
        def alive(pid):
            import os, time
            time.sleep(0.2)
            done, status = os.waitpid(pid, os.WNOHANG)  # the worker is its parent
            return "running" if done == 0 else f"killed by {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "exited"
        """
    )
    submission = graded(q1=source)
    submission.settings.level = level
    pid = submission.call("q1", "spawn").value
    assert isinstance(pid, int)
    assert submission.call("q1", "alive", pid).value == "killed by 9"


def test_the_worker_reads_its_own_modules_only(graded, level):
    source = textwrap.dedent(
        """
        import graders.worker.main, os
        def read(name):
            path = os.path.join(os.path.dirname(graders.worker.main.__file__), name)
            try:
                return open(path).read()[:20]
            except OSError as error:
                return type(error).__name__
        """
    )
    submission = graded(q1=source)
    submission.settings.level = level
    assert submission.call("q1", "read", "protocol.py").value.startswith('"""')
    for judge_only in ("q3_oracle.py", "plugin.py", "checks/test_q1.py", "../fixtures/rubric.yaml"):
        assert submission.call("q1", "read", judge_only).value in ("PermissionError", "FileNotFoundError"), judge_only


def _lying_npy(path, dtype, shape):
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    with open(path, "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        out.write(b"\0" * 64)
    return path.name


@pytest.mark.parametrize(
    "dtype, shape, words",
    [("<f8", (2**45,), "declares 35,184,372,088,832 x 8 bytes"), ("|V0", (2**40,), "not a number type"), ("<U0", (2**40,), "not a number type"), ("<f8", (3,), "holds 64")],
    ids=["huge-shape", "void-zero", "str-zero", "short"],
)
def test_an_array_whose_header_lies_about_its_size_is_refused_unallocated(tmp_path, dtype, shape, words):
    name = _lying_npy(tmp_path / "r7.npy", dtype, shape)
    with pytest.raises(protocol.MalformedAnswer, match=words):
        protocol.ExchangeFolder(tmp_path).load(name)


def test_no_prlimit_on_other_processes_even_at_the_graders_uid(graded, level):
    # Targets are processes that surely exist and are not the worker: its own child (same uid, so only
    # seccomp refuses it), and its parent and pid 1 where visible. getppid() is 0 when the parent lies
    # outside the worker's PID namespace, and prlimit(0) would be the worker itself.
    source = textwrap.dedent(
        """
        import os, resource, signal, time
        def own():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
            return resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft - 1
        def others():
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
            outcomes = {}
            try:
                for role, pid in (("child", child), ("parent", os.getppid()), ("init", 1)):
                    if pid in (0, os.getpid()):
                        continue
                    try:
                        resource.prlimit(pid, resource.RLIMIT_NOFILE)
                        outcomes[role] = "allowed"
                    except OSError as error:
                        outcomes[role] = type(error).__name__
            finally:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            return outcomes
        """
    )
    submission = graded(q1=source)
    submission.settings.level = level
    assert submission.call("q1", "own").value is True
    outcomes = submission.call("q1", "others").value
    assert outcomes.keys() >= {"child", "init"}, outcomes
    assert set(outcomes.values()) == {"PermissionError"}, outcomes
    assert "seccomp" in submission.sandbox.description


def test_the_worker_knows_its_own_user_and_nothing_of_the_hosts(graded, level):
    source = "import os, pwd, getpass\ndef who():\n    return getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name, len(pwd.getpwall())\n"
    submission = graded(q1=source)
    submission.settings.level = level
    result = submission.call("q1", "who")
    if level is jail.Level.NAMESPACES:
        assert result.value == ("worker", "worker", 2), result  # root and itself only
    else:  # the host's /etc/passwd, which lacks a uid of the worker's own
        assert result.ok or "uid not found" in result.message, result


# ---------------------------------------------------------------- a uid of its own, outside namespaces
def _reachable_folder():
    """A fresh folder in the system's temporary folder that any user may pass through."""
    folder = Path(tempfile.mkdtemp(prefix="hw9-reachable-", dir="/tmp"))
    folder.chmod(0o711)
    return folder


@pytest.fixture
def uid_switching():
    if not jail.is_root() or not jail._python_usable_by_others():
        pytest.skip("a worker gets a uid of its own outside namespaces only where the judge is root and other users can run its Python")


def test_outside_namespaces_a_worker_gets_its_own_uid_only_where_it_can_reach_its_folder(uid_switching, tmp_path):
    reachable = _reachable_folder()
    private = reachable / "private"
    private.mkdir(mode=0o700)
    try:
        assert jail.own_uid(1, jail.Level.LANDLOCK, reachable / "worker") is not None
        assert jail.own_uid(1, jail.Level.LANDLOCK, private / "worker") is None
        assert jail.own_uid(1, jail.Level.NAMESPACES, private / "worker") is not None  # bubblewrap binds it in
    finally:
        shutil.rmtree(reachable)


@pytest.mark.parametrize("out_reachable", [True, False], ids=["out-reachable", "out-private"])
def test_hw9_grade_outside_namespaces_grades_with_the_workers_own_uid_where_it_can(uid_switching, monkeypatch, out_reachable):
    monkeypatch.setenv("HW9_NO_NAMESPACES", "1")
    parent = _reachable_folder()
    if not out_reachable:
        parent.chmod(0o700)
    try:
        klass = parent / "class"
        shutil.copytree(layout.PROJECT_ROOT / "solutions", klass / "ref", ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
        code, output = run_grade(klass, "--out", parent / "out", "--jobs", "1", "--only", "q4")
        assert code == 0, output
        graded = json.loads((parent / "out" / "students" / "ref" / "results.json").read_text())
        description = graded["extra_data"]["hw9"]["sandbox"]["description"]
        assert graded["score"] == 20, description
        if out_reachable:
            assert "of its own" in description
        else:
            assert "root's uid without capabilities (other users cannot reach its folder" in description
    finally:
        shutil.rmtree(parent)


# ---------------------------------------------------------------- which processes are strays
def _vanished_pid():
    """A pid no process has: past the kernel's largest."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


@pytest.mark.parametrize("vanished_at", ["init-level", "worker-level"])
def test_a_child_reaped_while_listed_never_displaces_the_sandboxs_own_processes(monkeypatch, vanished_at):
    """A stray killed after one call may still be listed when the next call ends; the sandbox's own stay."""
    bwrap, worker, daemon = os.getppid(), os.getpid(), _vanished_pid()
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = {bwrap: [init.pid], init.pid: [worker, daemon]} if vanished_at == "worker-level" else {bwrap: [daemon, init.pid], init.pid: [worker]}
        monkeypatch.setattr(jail, "children", lambda pid: tree.get(pid, []))
        strays = jail.stray_processes(bwrap, jail.Level.NAMESPACES)
        assert strays <= {daemon}, strays  # killing a pid that is gone is harmless; killing init or the worker is not
    finally:
        init.kill()
        init.wait()
