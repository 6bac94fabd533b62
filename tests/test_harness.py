"""The worker harness on tiny submissions: values, failures, containment."""
import os
import signal
import textwrap

import numpy as np
import pytest

from graders.judge.harness import GIB, Failure
from graders.worker.protocol import ExchangeFolder, Unsupported, decode, encode


def make_submission(folder, **modules):
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def graded(tmp_path, open_submission):
    def open_student(memory_gb=2.0, warm=True, **modules):
        return open_submission(make_submission(tmp_path / "student", **modules), memory_gb=memory_gb, import_timeout=20, warm=warm)

    return open_student


def test_values_cross_as_plain_data(graded):
    submission = graded(q1="import numpy as np\ndef f(x):\n    return x * 2, {'n': 3}, [np.float32(1.5)], np.int64(7)\n")
    result = submission.call("q1", "f", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert result.ok, result.message
    array, mapping, items, number = result.value
    np.testing.assert_array_equal(array, np.arange(6, dtype=np.uint8).reshape(2, 3) * 2)
    assert array.dtype == np.uint8
    assert mapping == {"n": 3} and isinstance(items, list) and number == 7


@pytest.mark.parametrize(
    "returned, type_name",
    [
        ("AlwaysEqual()", "q1.AlwaysEqual"),
        ("Sneaky(np.zeros(3))", "q1.Sneaky"),
        ("np.array([object()], dtype=object)", "numpy array of dtype object"),
        ("lambda: 1", "function"),
    ],
    ids=["eq-always-true", "ndarray-subclass", "object-array", "function"],
)
def test_objects_that_are_not_plain_data_come_back_as_unsupported(graded, returned, type_name):
    source = f"""
    import numpy as np
    class AlwaysEqual:
        def __eq__(self, other):
            return True
    class Sneaky(np.ndarray):
        def __new__(cls, values):
            return np.asarray(values).view(cls)
    def f():
        return {returned}
    """
    result = graded(q1=source).call("q1", "f")
    assert result.ok, result.message
    assert isinstance(result.value, Unsupported)
    assert type_name in result.value.type_name


def test_protocol_round_trip_keeps_types(tmp_path):
    value = {"a": (1, 2.5, float("nan")), "b": [np.zeros((2, 0)), np.array(3.0)], "c": 2**70, "d": None}
    back = decode(encode(value, tmp_path), ExchangeFolder(tmp_path))
    assert back["a"][:2] == (1, 2.5) and np.isnan(back["a"][2])
    assert back["b"][0].shape == (2, 0) and back["b"][1].shape == ()
    assert back["c"] == 2**70 and back["d"] is None


def test_exception_missing_name_and_missing_file(graded):
    submission = graded(q1="def f():\n    return 1 / 0\n")
    raised = submission.call("q1", "f")
    assert raised.failure is Failure.EXCEPTION and raised.raised("ZeroDivisionError") and raised.message.startswith("raised ZeroDivisionError:")
    assert "q1.py" in raised.detail
    missing = submission.call("q1", "nothing_here")
    assert missing.failure is Failure.MISSING and "nothing_here" in missing.message
    absent = submission.call("q2", "kernel", "blur")
    assert absent.failure is Failure.MISSING and "q2.py is missing" in absent.message


def test_import_failure_is_remembered(graded):
    submission = graded(q4="def broken(:\n", q1="def f():\n    return 5\n")
    first = submission.call("q4", "dense_params", 3, 2)
    assert first.failure is Failure.IMPORT and "SyntaxError" in first.message
    again = submission.call("q4", "layer_table")
    assert again is first
    assert submission.call("q1", "f").value == 5


def test_hang_in_one_function_times_out_and_the_next_call_works(graded):
    submission = graded(q1="def hang():\n    while True:\n        pass\ndef f():\n    return 1\n")
    hung = submission.call("q1", "hang", timeout=1)
    assert hung.failure is Failure.TIMEOUT and "timed out after 1 s" in hung.message
    assert submission.call("q1", "f").value == 1


def test_hang_at_import_costs_only_that_module(graded):
    submission = graded(q1="while True:\n    pass\n", q4="def f():\n    return 4\n")
    submission.import_timeout = 1
    assert submission.call("q1", "f").failure is Failure.TIMEOUT
    assert submission.call("q4", "f").value == 4


@pytest.mark.parametrize(
    "body, words",
    [
        ("os._exit(0)", "exited with code 0"),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
    ],
    ids=["os-exit", "sigsegv"],
)
def test_crash_in_a_call_is_reported_and_survived(graded, body, words):
    submission = graded(q1=f"import os, signal\ndef crash():\n    {body}\ndef f():\n    return 2\n")
    crashed = submission.call("q1", "crash")
    assert crashed.failure is Failure.CRASH and words in crashed.message
    assert submission.call("q1", "f").value == 2
    assert submission.events, "the restart is recorded for the report"


def test_memory_bomb_hits_the_limit(graded):
    submission = graded(memory_gb=1.0, q1="import numpy as np\ndef bomb():\n    return np.ones(4 * 1024**3, dtype=np.uint8).sum()\ndef f():\n    return 3\n")
    bombed = submission.call("q1", "bomb")
    assert bombed.failure in (Failure.MEMORY, Failure.CRASH), bombed
    assert "memory" in bombed.message.lower() or "MemoryError" in bombed.message
    assert submission.call("q1", "f").value == 3
    assert submission.settings.memory_bytes == 1 * GIB


def test_writes_outside_the_work_dir_and_reads_of_the_judge_fail(graded, tmp_path):
    target = tmp_path / "outside.txt"
    secret = tmp_path / "secret.txt"
    secret.write_text("expected answers")
    submission = graded(q1=f"def write():\n    open({str(target)!r}, 'w').write('x')\ndef read():\n    return open({str(secret)!r}).read()\n")
    submission.start()
    if "Landlock" not in submission.last_sandbox:
        pytest.skip(f"no Landlock sandbox here: {submission.last_sandbox}")
    # Landlock denies (PermissionError); in namespaces the paths are not even there.
    denied = ("raised PermissionError", "raised FileNotFoundError")
    assert submission.call("q1", "write").message.startswith(denied)
    assert not target.exists()
    assert submission.call("q1", "read").message.startswith(denied)


def test_a_submission_cannot_signal_the_judge(graded):
    """A fresh worker's parent is the judge (or bubblewrap's init): Landlock refuses the signal. A forked
    worker's parent is outside its PID namespace (getppid() is 0), so the same code signals its own group."""
    submission = graded(q1="import os, signal\ndef kill_parent():\n    os.kill(os.getppid(), signal.SIGTERM)\n    return 'sent'\n", warm=False)
    submission.start()
    if "signals to the judge blocked" not in submission.last_sandbox:
        pytest.skip(f"this kernel cannot scope signals: {submission.last_sandbox}")
    result = submission.call("q1", "kill_parent")
    assert result.message.startswith("raised PermissionError"), result


def test_monkeypatching_numpy_in_the_submission_leaves_the_judge_alone(graded):
    source = "import numpy\nnumpy.testing.assert_allclose = lambda *a, **k: None\nnumpy.allclose = lambda *a, **k: True\ndef f():\n    return numpy.allclose(1, 2)\n"
    submission = graded(q1=source)
    assert submission.call("q1", "f").value is True  # patched inside the worker only
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(1.0, 2.0, rtol=0, atol=0)
    assert not np.allclose(1.0, 2.0)


def test_the_original_submission_folder_is_untouched(graded, tmp_path):
    source = "import pathlib\ndef f():\n    pathlib.Path(__file__).write_text('overwritten')\n    return 1\n"
    submission = graded(q1=source)
    result = submission.call("q1", "f")
    # Its copy is read-only to the worker (a read-only bind, or outside its Landlock writes).
    assert result.value == 1 or result.message.startswith(("raised OSError", "raised PermissionError")), result
    assert (tmp_path / "student" / "q1.py").read_text() == source


def test_worker_processes_are_gone_after_close(graded):
    submission = graded(q1="def f():\n    return 1\n")
    submission.call("q1", "f")
    pid = submission._worker.process.pid
    submission.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _running(pid):
    """Alive and not a zombie: an orphan's zombie lasts until its new parent reaps it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_hanging_worker_dies_with_its_judge(tmp_path):
    """A judge killed mid-call (e.g. by a batch timeout) leaves no worker behind."""
    import subprocess
    import sys
    import time

    make_submission(tmp_path / "student", q1="def hang():\n    while True:\n        pass\n")
    script = (
        "import sys\nfrom graders.judge.submission import Submission\n"
        f"s = Submission({str(tmp_path / 'student')!r})\ns.start()\n"
        "print(s._worker.process.pid, flush=True)\ns.call('q1', 'hang', timeout=600)\n"
    )
    judge = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker_pid = int(judge.stdout.readline())
    time.sleep(1.0)  # the worker is now spinning in hang()
    judge.kill()
    judge.wait()
    for _ in range(100):
        if not _running(worker_pid):
            break
        time.sleep(0.1)
    else:
        os.kill(worker_pid, signal.SIGKILL)
        pytest.fail("the worker outlived its judge")
