"""Running a submission out of process: one confined worker, restarted after any failure.

The judge (the pytest process) never imports submission code. `Submission.call` sends a
request to the worker and returns a `CallResult`; a timeout, crash or exhausted memory
becomes a failed result with a reason, and the next call gets a fresh worker.
"""
import enum
import glob
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

from graders import layout
from graders.judge import jail, safe_files, warm
from graders.judge.jail import planned_level
from graders.judge.settings import WORKER_MEMORY_GB
from graders.worker import protocol
from graders.worker.messages import CONFIG_VARIABLE, HELLO_ID, Request, Response, WorkerConfig

MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
MAX_MESSAGE_BYTES = 64 * 2**20  # one JSON answer line; its arrays travel as files
MAX_PROCESSES = 1024  # threads included; only enforced for a uid of the worker's own
GIB = 1024**3
_worker_sequence = 0
_live_workers = set()  # Popen pids of this judge's workers: its other children are strays


class Failure(enum.Enum):
    """Why a call to the submission gave no value."""

    NONE = ""  # it did give one
    MISSING = "missing"  # the module file or the name is not there
    IMPORT = "import"  # the module raised while being imported
    EXCEPTION = "exception"  # the call raised (`CallResult.error_type` says what)
    TIMEOUT = "timeout"
    CRASH = "crash"  # the worker died: os._exit, a signal
    MEMORY = "memory"
    MALFORMED = "malformed"  # the worker's answer is not one a call returns

    @property
    def stops_the_worker(self):
        return self in (Failure.TIMEOUT, Failure.CRASH, Failure.MEMORY)


@dataclass
class CallResult:
    """What one request to the worker gave: a value, or a failure kind and its reason."""

    ok: bool
    value: Any = None
    failure: Failure = Failure.NONE
    message: str = ""
    detail: str = ""  # the submission's traceback, when it raised
    seconds: float = 0.0
    error_type: str = ""  # the exception's class name, when it raised

    def raised(self, error_type):
        """Whether the call raised an exception of class `error_type` (by name: the class lived in the worker)."""
        return self.failure in (Failure.EXCEPTION, Failure.IMPORT) and self.error_type == error_type

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
    memory_bytes: int = int(WORKER_MEMORY_GB * GIB)
    start_timeout: float = 60.0
    read_paths: list = field(default_factory=list)
    allow_gpu: bool = False
    max_result_bytes: int = protocol.DEFAULT_MAX_RESULT_BYTES
    max_file_bytes: int = 1 << 30
    level: jail.Level | None = None  # None: the strongest this platform allows
    warm: bool = True  # fork workers from the fork server where the sandbox allows


class Worker:
    """One worker process over a private copy of the submission folder.

    Its folder: `submission/` (a copy, read-only to the worker), `inbox/` (arguments the
    judge writes, read-only to the worker), `work/` (the worker's only writable folder,
    where its answers' arrays come from) and the log, which the worker only has as an fd.
    """

    def __init__(self, submission_dir, settings):
        global _worker_sequence
        _worker_sequence += 1
        self.settings = settings
        self.level = settings.level if settings.level is not None else planned_level()
        self.base = Path(tempfile.mkdtemp(prefix="hw9-worker-"))
        os.chmod(self.base, 0o711)
        self.uid = jail.own_uid(_worker_sequence, self.level, self.base)
        self.submission_copy = self.base / "submission"
        self.inbox = self.base / "inbox"
        self.workdir = self.base / "work"
        safe_files.copy_regular_files(Path(submission_dir), self.submission_copy, MAX_SUBMISSION_BYTES)
        self.inbox.mkdir(mode=0o755)
        self.workdir.mkdir(mode=0o700)
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)
        self.log_path = self.base / "worker.log"
        self.sandbox = ""
        self.limits = {}  # what the worker last said of its own limits
        self._init_pid = None
        self._next_id = 1
        self._buffer = b""
        self._pending_warm_up = None  # (request id, timeout) answered before the next request
        self.forked = None  # warm.Forked, when the fork server forked this worker
        self.start_mode = ""  # how it was started, for the sandbox line
        self._start()

    def expected_limits(self):
        """The limits this judge set; a worker reporting others was changed from outside."""
        return {"memory": self.settings.memory_bytes or -1, "file_size": self.settings.max_file_bytes, "core": 0}

    def _config(self):
        return WorkerConfig(
            memory_bytes=self.settings.memory_bytes,
            max_file_bytes=self.settings.max_file_bytes,
            max_processes=MAX_PROCESSES if self.uid is not None else None,
            submission=str(self.submission_copy),
            inbox=str(self.inbox),
            judge_pid=None if self.level is jail.Level.NAMESPACES else os.getpid(),
            own_pid_namespace=self.level is jail.Level.NAMESPACES,
            workdir=str(self.workdir),
            read_paths=[str(path) for path in self.settings.read_paths],
            harness_files=worker_files(),
            device_paths=self._devices(),
        )

    def _devices(self):
        # CUDA opens these read-write and drives them with ioctl.
        return sorted(glob.glob("/dev/nvidia*")) if self.settings.allow_gpu else []

    def _environment(self):
        env = jail.allowed_environment(
            {
                "HOME": str(self.workdir),
                "KERAS_HOME": str(self.workdir / ".keras"),
                "TMPDIR": str(self.workdir),
                "MPLCONFIGDIR": str(self.workdir),
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "KERAS_BACKEND": "tensorflow",
                "PYTHONHASHSEED": "0",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(layout.PACKAGE_DIR.parent),  # the judge's own harness, whatever is installed
                CONFIG_VARIABLE: self._config().to_text(),
            }
        )
        if not self.settings.allow_gpu:
            env["CUDA_VISIBLE_DEVICES"] = "-1"
        return env

    def _command(self, request_read, response_write):
        argv = [sys.executable, "-m", "graders.worker.main", str(request_read), str(response_write)]
        if self.level is not jail.Level.NAMESPACES:
            if jail.is_root() and self.uid is None:  # root's uid, but none of root's capabilities
                return [shutil.which("setpriv") or "/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-all", "--", *argv]
            return argv
        return self._in_bubblewrap(argv)

    def _in_bubblewrap(self, argv):
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
        python.update(path for path in sys.path if path and os.path.isdir(path) and "-packages" in path)
        python.update(os.path.realpath(path) for path in list(python))
        binds = jail.Binds(
            read_only=(*sorted(python), *worker_files(), str(self.submission_copy), str(self.inbox), *map(str, self.settings.read_paths)),
            writable=str(self.workdir),
            devices=tuple(self._devices()),
            files=jail.account_files(self.base, self.uid if self.uid is not None else os.getuid(), self.workdir),
        )
        return jail.bwrap_command(argv, binds, self._environment(), uid=self.uid)

    def _start(self):
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        jail.adopt_orphans()
        try:
            why_not = self._start_forked(request_read, response_write) if self.settings.warm else "warm workers are off"
            if why_not:
                self._start_fresh(request_read, response_write)
            self.start_mode = warm.FORKED if not why_not else f"a fresh interpreter: {why_not}"
        finally:
            os.close(request_read)
            os.close(response_write)
        _live_workers.add(self.process.pid)
        hello = self._receive(HELLO_ID, self.settings.start_timeout)
        # bwrap's monitor exits without reaping its init: this judge (the subreaper) does, so
        # the worker's CPU time is accounted to the grading.
        self._init_pid = min(jail.children(self.process.pid), default=None) if self.level is jail.Level.NAMESPACES else None
        value = hello.value if isinstance(hello.value, dict) else {}
        self.sandbox = str(value.get("sandbox", ""))[:300]

    def _start_fresh(self, request_read, response_write):
        switch_user = self.uid is not None and self.level is not jail.Level.NAMESPACES
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._command(request_read, response_write),
                pass_fds=(request_read, response_write),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=self._environment(),
                start_new_session=True,  # its own process group: a kill takes its children too
                **({"user": self.uid, "group": self.uid, "extra_groups": []} if switch_user else {}),
            )

    def _start_forked(self, request_read, response_write):
        """Fork the worker from the fork server into a sandbox held for it; "" or why not."""
        try:
            self.process, self.forked = warm.start_in_sandbox(self, (request_read, response_write))
        except warm.Unavailable as why:
            return str(why)
        return ""

    def _send(self, probe, params):
        request_id = self._next_id
        self._next_id += 1
        params = protocol.encode(params, self.inbox, prefix="a")
        line = Request(request_id, probe, params).line().encode()
        try:
            os.write(self._request_write, line)
        except OSError:
            raise self._died() from None
        return request_id

    def warm_up(self, libraries, timeout):
        """Start importing libraries in the worker without waiting for it."""
        self._pending_warm_up = (self._send("warm", {"libraries": list(libraries)}), timeout)

    def request(self, probe, params, timeout):
        """Send one request; return its Response or raise WorkerDied."""
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
                response = Response.parse(line)  # None: not a response, student code writing to the pipe
                if response is not None and response.id == request_id:
                    if response.limits is not None:
                        self.limits = response.limits
                    return response
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                self.kill()
                raise WorkerDied(Failure.MALFORMED, f"the worker sent over {MAX_MESSAGE_BYTES // 2**20} MiB without ending an answer (the worker was stopped)")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerDied(Failure.TIMEOUT, f"timed out after {timeout:g} s (the worker was stopped)")
            ready, _, _ = select.select([self._response_read], [], [], remaining)
            if ready:
                chunk = os.read(self._response_read, 1 << 16)
                if not chunk:
                    raise self._died()
                self._buffer += chunk

    def _died(self):
        if self.forked is not None:
            self.forked.ended(timeout=10)
            returncode = self.forked.exit_code
        else:
            try:
                returncode = self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                returncode = self.process.returncode
        self.kill()
        tail = self.log_tail()
        if self.forked is None and self.level is jail.Level.NAMESPACES and returncode is not None and 128 < returncode < 160:
            returncode = 128 - returncode  # bwrap's init exits 128+N for a child killed by signal N
        if returncode is not None and returncode < 0:
            name = _signal_name(returncode)
            hint = " (possibly the memory limit)" if name in ("SIGKILL", "SIGABRT", "SIGBUS") else ""
            return WorkerDied(Failure.CRASH, f"the worker crashed with {name}{hint}{tail}")
        if "MemoryError" in tail or "bad_alloc" in tail:
            return WorkerDied(Failure.MEMORY, f"the worker ran out of memory (limit {self.settings.memory_bytes / GIB:g} GiB){tail}")
        return WorkerDied(Failure.CRASH, f"the worker exited with code {returncode} during the call{tail}")

    def kill_strays(self):
        """Kill what the submission started during a call: only the worker outlives it."""
        strays = jail.stray_processes(self.process.pid, self.level, self.uid)
        if self.forked is not None:  # the forked worker's own children are outside bwrap's tree
            strays |= jail.descendants(self.forked.pid)
        if self.level is not jail.Level.NAMESPACES:  # daemons that left the tree were adopted by this judge
            strays |= set(jail.children(os.getpid())) - _live_workers - warm.own_server_pids()
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def log_tail(self, limit=600):
        try:
            text = safe_files.read_tail(self.log_path, limit * 4).decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        return f"; its last output: ...{text[-limit:]}" if text else ""

    def results(self):
        """The folder of the worker's answer arrays, read within the per-call size limit."""
        return protocol.ExchangeFolder(self.workdir, self.settings.max_result_bytes)

    def alive(self):
        return self.process.poll() is None and (self.forked is None or not self.forked.ended())

    def kill(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        _live_workers.discard(self.process.pid)
        self._reap_init(1.0)
        if self.level is not jail.Level.NAMESPACES:
            self.kill_strays()
        if self.uid is not None and self.level is not jail.Level.NAMESPACES:
            jail.kill_uid(self.uid)  # children that left the process group (setsid, daemons)
        for fd in (self._request_write, self._response_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._request_write = self._response_read = -1
        if self.forked is not None:
            self.forked.close(timeout=2.0)  # it died with its sandbox: its CPU time
            self.process.stdin.close()

    def _reap_init(self, grace):
        """Wait for bwrap's init (re-parented here) to exit; after `grace` seconds kill it, then give up."""
        pid, self._init_pid = self._init_pid, None
        if pid is None:
            return
        for deadline, kill_after in ((time.monotonic() + grace, True), (time.monotonic() + grace + 5, False)):
            while time.monotonic() < deadline:
                try:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        return
                except ChildProcessError:
                    return  # reaped by bwrap after all, or never ours
                time.sleep(0.01)
            if kill_after:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    return

    def close(self, grace=5.0):
        """End the worker by closing its requests (so its CPU time is accounted to this judge), then kill."""
        if self.process.poll() is None and self._request_write >= 0:
            os.close(self._request_write)
            self._request_write = -1
            if self.forked is not None:
                self.forked.ended(timeout=grace)
                self.process.stdin.close()  # the holder ends, and the sandbox with it
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def worker_files():
    return [str(path) for path in layout.worker_files()]
