"""A submission as the graders see it: named calls that return `CallResult`s.

Keeps one worker alive across calls, restarts it after a timeout or crash, and
remembers a module that failed to import so later checks fail at once with the
same reason instead of paying the timeout again.
"""
import stat
import time
from pathlib import Path

from graders import questions
from graders.judge import jail, safe_files
from graders.judge.harness import GIB, CallResult, Failure, Worker, WorkerDied, WorkerSettings
from graders.judge.settings import CALL_TIMEOUT_S, IMPORT_TIMEOUT_S, WORKER_MEMORY_GB
from graders.worker import protocol
WARM_LIBRARIES = ("tensorflow", "keras", "keras_tuner", "cv2", "scipy")


class Submission:
    """The folder at `path`, graded through a confined worker process."""

    def __init__(self, path, memory_gb=WORKER_MEMORY_GB, import_timeout=IMPORT_TIMEOUT_S, read_paths=(), allow_gpu=False, level=None,
                 max_result_bytes=protocol.DEFAULT_MAX_RESULT_BYTES, missing_names=None, warm=True):
        self.path = Path(path).resolve()
        # A notebook's build says why a name is missing ({module: {name: why}}): a missing name's failure tells it.
        self.missing_names = missing_names or {}
        self.settings = WorkerSettings(
            memory_bytes=int(memory_gb * GIB), read_paths=list(read_paths), allow_gpu=allow_gpu, level=level, max_result_bytes=max_result_bytes,
            warm=warm,
        )
        self.import_timeout = import_timeout
        self._worker = None
        self._imported = set()
        self._import_failures = {}
        self._timed_out = {}  # (module, function) -> seconds: a hang is paid for once
        self.events = []  # restarts and their reasons, for the report
        self.last_sandbox = ""
        self.sandbox = None  # jail.SandboxInfo of the last worker started
        self.disturbed = ""  # why this grading cannot be trusted, when something outside changed it
        self.shared_results = {}  # probe results that several checks read

    def _ensure_worker(self):
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.close()
            self._worker = Worker(self.path, self.settings)
            self.sandbox = jail.sandbox_info(self._worker)
            self.last_sandbox = self.sandbox.description
            self._imported = set()
            libraries = self.libraries_used()
            if libraries:
                self._worker.warm_up(libraries, self.import_timeout)
        return self._worker

    def _send(self, probe, params, timeout):
        started = time.monotonic()
        try:
            worker = self._ensure_worker()
            message = worker.request(probe, params, timeout)
        except WorkerDied as died:
            self.events.append(f"{probe} {params.get('module', '')}: {died.message}")
            self._check_limits()
            self._restart_later()
            return CallResult(False, failure=died.failure, message=died.message, seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        worker.kill_strays()
        self._check_limits()
        if message.ok:
            try:
                value = protocol.decode(message.value, worker.results())
            except (protocol.MalformedAnswer, RecursionError, MemoryError) as error:
                return CallResult(False, failure=Failure.MALFORMED, message=f"the worker's answer is malformed: {error}", seconds=seconds)
            return CallResult(True, value=value, seconds=seconds)
        failure = {"MissingName": Failure.MISSING, "MemoryError": Failure.MEMORY}.get(message.error_type, Failure.EXCEPTION)
        reason = message.error if failure is Failure.MISSING else f"raised {message.error_type}: {message.error}"
        return CallResult(False, failure=failure, message=reason, detail=message.traceback, seconds=seconds, error_type=message.error_type)

    def _check_limits(self):
        """A worker whose limits differ from the judge's was changed from outside: say so."""
        worker = self._worker
        if worker is None or self.disturbed:
            return
        for name, expected in worker.expected_limits().items():
            got = worker.limits.get(name, expected)
            if got != expected and not (expected == -1 and got == -1):
                self.disturbed = f"the worker's {name} limit was changed from outside (set {expected}, found {got})"
                return

    def _restart_later(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._imported = set()

    def libraries_used(self):
        """Heavy libraries the submission's sources mention, to import ahead of its first call."""
        texts = []
        for path in (self.path / f"{question.module}.py" for question in questions.all_questions()):
            try:
                texts.append(safe_files.read_regular_file(path, 1 << 20).decode(errors="replace"))
            except (safe_files.UnsafeFile, OSError):
                continue
        sources = " ".join(texts)
        return [library for library in WARM_LIBRARIES if library.split(".")[0] in sources or library in sources]

    def has_module_file(self, module):
        """Whether `module`.py is a regular file of the submission (a link or FIFO is not)."""
        try:
            return stat.S_ISREG((self.path / f"{module}.py").lstat().st_mode)
        except OSError:
            return False

    def start(self):
        """Start the worker (and its library imports) now, e.g. while the judge imports Keras."""
        self._ensure_worker()

    def import_module(self, module):
        """Import a question module once per worker; a failure is remembered for good."""
        if module in self._import_failures:
            return self._import_failures[module]
        if module in self._imported:
            return CallResult(True)
        if module in questions.names() and not self.has_module_file(module):
            result = CallResult(False, failure=Failure.MISSING, message=f"{module}.py is missing from the submission")
        else:
            result = self._send("import", {"module": module}, self.import_timeout)
            if not result.ok:
                result.failure = Failure.IMPORT if result.failure is Failure.EXCEPTION else result.failure
                result.message = f"importing {module}.py failed: {result.message}"
        if result.ok:
            self._imported.add(module)
        else:
            self._import_failures[module] = result
        return result

    def probe(self, probe, module, timeout=CALL_TIMEOUT_S, **params):
        """Run a probe of graders.worker.probes on `module` after importing it.

        After a call times out, later calls of the same function fail at once: a hang
        costs its time once, not once per check.
        """
        imported = self.import_module(module)
        if not imported.ok:
            return imported
        key = (module, params.get("function") or probe)
        if key in self._timed_out:
            name = key[1]
            message = f"not run: an earlier call of `{name}` timed out after {self._timed_out[key]:g} s"
            return CallResult(False, failure=Failure.TIMEOUT, message=message)
        result = self._send(probe, {"module": module, **params}, timeout)
        if result.failure is Failure.TIMEOUT:
            self._timed_out[key] = timeout
        why = self.missing_names.get(module, {}).get(params.get("function") or params.get("name"))
        if result.failure is Failure.MISSING and why:
            result.message = f"{module}.py defines no {key[1]!r}: in the notebook, {why}"
        return result

    def call(self, module, function, *args, timeout=CALL_TIMEOUT_S, **kwargs):
        """Call `module.function(*args, **kwargs)` in the worker."""
        return self.probe("call", module, timeout, function=function, args=list(args), kwargs=kwargs)

    def attribute(self, module, name, timeout=CALL_TIMEOUT_S):
        return self.probe("attribute", module, timeout, name=name)

    def close(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None
