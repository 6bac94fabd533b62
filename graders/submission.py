"""A submission as the graders see it: named calls that return `CallResult`s.

Keeps one worker alive across calls, restarts it after a timeout or crash, and
remembers a module that failed to import so later checks fail at once with the
same reason instead of paying the timeout again.
"""
import time
from pathlib import Path

from graders import protocol
from graders.harness import GIB, QUESTION_MODULES, CallResult, Worker, WorkerDied, WorkerSettings

DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_IMPORT_TIMEOUT = 120.0
WARM_LIBRARIES = ("tensorflow", "keras", "keras_tuner", "cv2", "scipy")


class Submission:
    """The folder at `path`, graded through a confined worker process."""

    def __init__(self, path, memory_gb=8.0, import_timeout=DEFAULT_IMPORT_TIMEOUT, read_paths=(), allow_gpu=False):
        self.path = Path(path).resolve()
        self.settings = WorkerSettings(memory_bytes=int(memory_gb * GIB), read_paths=list(read_paths), allow_gpu=allow_gpu)
        self.import_timeout = import_timeout
        self._worker = None
        self._imported = set()
        self._import_failures = {}
        self.events = []  # restarts and their reasons, for the report
        self.last_sandbox = ""
        self.shared_results = {}  # probe results that several checks read

    def _ensure_worker(self):
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.close()
            self._worker = Worker(self.path, self.settings)
            self.last_sandbox = self._worker.sandbox
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
            self._restart_later()
            return CallResult(False, failure=died.failure, message=died.message, seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        if message["ok"]:
            return CallResult(True, value=protocol.decode(message["value"], worker.workdir), seconds=seconds)
        error_type = message.get("error_type", "Exception")
        failure = {"MissingName": "missing", "MemoryError": "memory"}.get(error_type, "exception")
        text = message.get("error", "").strip()
        reason = text if failure == "missing" else f"raised {error_type}: {text}"
        return CallResult(False, failure=failure, message=reason, detail=message.get("traceback", ""), seconds=seconds)

    def _restart_later(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._imported = set()

    def libraries_used(self):
        """Heavy libraries the submission's sources mention, to import ahead of its first call."""
        sources = " ".join(
            path.read_text(errors="replace") for path in self.path.glob("q*.py") if path.stat().st_size < 1 << 20
        )
        return [library for library in WARM_LIBRARIES if library.split(".")[0] in sources or library in sources]

    def start(self):
        """Start the worker (and its library imports) now, e.g. while the judge imports Keras."""
        self._ensure_worker()

    def import_module(self, module):
        """Import a question module once per worker; a failure is remembered for good."""
        if module in self._import_failures:
            return self._import_failures[module]
        if module in self._imported:
            return CallResult(True)
        if module in QUESTION_MODULES and not (self.path / f"{module}.py").is_file():
            result = CallResult(False, failure="missing", message=f"{module}.py is missing from the submission")
        else:
            result = self._send("import", {"module": module}, self.import_timeout)
            if not result.ok:
                result.failure = "import" if result.failure == "exception" else result.failure
                result.message = f"importing {module}.py failed: {result.message}"
        if result.ok:
            self._imported.add(module)
        else:
            self._import_failures[module] = result
        return result

    def probe(self, probe, module, timeout=DEFAULT_CALL_TIMEOUT, **params):
        """Run a probe of graders.probes on `module` after importing it."""
        imported = self.import_module(module)
        if not imported.ok:
            return imported
        return self._send(probe, {"module": module, **params}, timeout)

    def call(self, module, function, *args, timeout=DEFAULT_CALL_TIMEOUT, **kwargs):
        """Call `module.function(*args, **kwargs)` in the worker."""
        return self.probe("call", module, timeout, function=function, args=list(args), kwargs=kwargs)

    def attribute(self, module, name, timeout=DEFAULT_CALL_TIMEOUT):
        return self.probe("attribute", module, timeout, name=name)

    def close(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None
