"""Running a submission out of process: one confined worker, restarted after any failure.

The judge (the pytest process) never imports submission code. `Submission.call` sends a
request to the worker and returns a `CallResult`; a timeout, crash or exhausted memory
becomes a failed result with a reason, and the next call gets a fresh worker.
"""
import glob
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders import protocol

QUESTION_MODULES = ("q1", "q2", "q3", "q4")
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
GIB = 1024**3


@dataclass
class CallResult:
    """What one request to the worker gave: a value, or a failure kind and its reason."""

    ok: bool
    value: Any = None
    failure: str = ""  # "missing", "import", "exception", "timeout", "crash", "memory"
    message: str = ""
    detail: str = ""  # the submission's traceback, when it raised
    seconds: float = 0.0

    def describe(self):
        return self.message if not self.ok else "ok"


class WorkerDied(Exception):
    def __init__(self, failure, message):
        super().__init__(message)
        self.failure, self.message = failure, message


def _signal_name(returncode):
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass
class WorkerSettings:
    memory_bytes: int = 8 * GIB
    start_timeout: float = 60.0
    read_paths: list = field(default_factory=list)
    allow_gpu: bool = False


class Worker:
    """One worker process over a private copy of the submission folder."""

    def __init__(self, submission_dir, settings):
        self.settings = settings
        self.workdir = Path(tempfile.mkdtemp(prefix="hw9-worker-"))
        self.submission_copy = self.workdir / "submission"
        _copy_submission(Path(submission_dir), self.submission_copy)
        self.log_path = self.workdir / "worker.log"
        self.sandbox = ""
        self._next_id = 1
        self._buffer = b""
        self._pending_warm_up = None  # (request id, timeout) answered before the next request
        self._start()

    def _environment(self):
        env = dict(os.environ)
        env.update(
            HOME=str(self.workdir),
            KERAS_HOME=str(self.workdir / ".keras"),
            TMPDIR=str(self.workdir),
            MPLCONFIGDIR=str(self.workdir),
            TF_CPP_MIN_LOG_LEVEL="3",
            KERAS_BACKEND="tensorflow",
            PYTHONHASHSEED="0",
            PYTHONDONTWRITEBYTECODE="1",
            HW9_WORKER_SETTINGS=json.dumps(
                {
                    "memory_bytes": self.settings.memory_bytes,
                    "submission": str(self.submission_copy),
                    "judge_pid": os.getpid(),
                    "workdir": str(self.workdir),
                    "read_paths": [str(path) for path in self.settings.read_paths],
                    # CUDA opens these read-write and drives them with ioctl.
                    "device_paths": sorted(glob.glob("/dev/nvidia*")) if self.settings.allow_gpu else [],
                }
            ),
        )
        if not self.settings.allow_gpu:
            env["CUDA_VISIBLE_DEVICES"] = "-1"
        return env

    def _start(self):
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "graders.worker", str(request_read), str(response_write)],
                pass_fds=(request_read, response_write),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=self._environment(),
                start_new_session=True,  # its own process group: a kill takes its children too
            )
        os.close(request_read)
        os.close(response_write)
        hello = self._receive(0, self.settings.start_timeout)
        self.sandbox = hello["value"]["sandbox"]

    def _send(self, probe, params):
        request_id = self._next_id
        self._next_id += 1
        params = protocol.encode(params, self.workdir)
        line = protocol.dumps({"id": request_id, "probe": probe, "params": params}).encode()
        try:
            os.write(self._request_write, line)
        except OSError:
            raise self._died() from None
        return request_id

    def warm_up(self, libraries, timeout):
        """Start importing libraries in the worker without waiting for it."""
        self._pending_warm_up = (self._send("warm", {"libraries": list(libraries)}), timeout)

    def request(self, probe, params, timeout):
        """Send one request; return its decoded response or raise WorkerDied."""
        if self._pending_warm_up is not None:
            warm_up_id, warm_up_timeout = self._pending_warm_up
            self._pending_warm_up = None
            self._receive(warm_up_id, warm_up_timeout)  # its time is not charged to this request
        return self._receive(self._send(probe, params), timeout)

    def _receive(self, request_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours: student code writing to the pipe
                if isinstance(message, dict) and message.get("id") == request_id:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerDied("timeout", f"timed out after {timeout:g} s (the worker was stopped)")
            ready, _, _ = select.select([self._response_read], [], [], remaining)
            if ready:
                chunk = os.read(self._response_read, 1 << 16)
                if not chunk:
                    raise self._died()
                self._buffer += chunk

    def _died(self):
        try:
            returncode = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            returncode = self.process.returncode
        self.kill()
        tail = self.log_tail()
        if returncode is not None and returncode < 0:
            name = _signal_name(returncode)
            hint = " (possibly the memory limit)" if name in ("SIGKILL", "SIGABRT", "SIGBUS") else ""
            return WorkerDied("crash", f"the worker crashed with {name}{hint}{tail}")
        if "MemoryError" in tail or "bad_alloc" in tail:
            return WorkerDied("memory", f"the worker ran out of memory (limit {self.settings.memory_bytes / GIB:g} GiB){tail}")
        return WorkerDied("crash", f"the worker exited with code {returncode} during the call{tail}")

    def log_tail(self, limit=600):
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; its last output: ...{text[-limit:]}" if text else ""

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        for fd in (self._request_write, self._response_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._request_write = self._response_read = -1

    def close(self):
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _copy_submission(source, destination):
    """Copy the submission's files so the worker can neither change nor see the original folder."""
    if not source.is_dir():
        raise FileNotFoundError(f"submission folder not found: {source}")
    total = 0
    for path in source.rglob("*"):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        total += path.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            raise ValueError(f"submission {source} is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB")
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    destination.mkdir(parents=True, exist_ok=True)
