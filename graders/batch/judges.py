"""How one submission's grading process is started, and what its exit means.

The judge is the project's pytest plugin run on the submission:
`python -m pytest <each question's checks> --submission S --grade-json F -q --assert=plain -p no:cacheprovider`,
plus the Q2 gallery plugin (no assert rewriting: checks fail through their verdicts). With `preload`, the libraries every judge imports
(TensorFlow, Keras, keras-tuner, OpenCV, pytest) are imported once in this process and
each judge is a fork of it running `pytest.main` with the same arguments, which saves
each submission a TensorFlow import. The project's own modules are not kept: each judge
imports them afresh. The worker that runs student code is started by the judge as
always, never forked from here.
"""
import contextlib
import hashlib
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graders import layout, questions
from graders.batch import processes
from graders.batch.results import graded_reason, hw9_data, internal_errors_note, kept_points, read_results, stopped_results
from graders.batch.store import Status
from graders.cifar10.search import PATH_ENV as CIFAR10_ENV
from graders.judge import jail, oracle_cache, settings, warm
from graders.judge.report import partial_results_path, rewritten_versions
from graders.judge.safe_files import UnsafeFile, read_tail
from graders.threads import SINGLE_THREAD, thread_environment
from graders.worker import deferred_imports

PRELOADED_LIBRARIES = ("numpy", "cv2", "yaml", "pytest", "tensorflow", "keras", "keras_tuner")
PROJECT_PACKAGES = ("graders", "conftest")
# Installed pytest plugins no check uses. Hypothesis's imports hypothesis at the end of every
# run, and pytest re-rewrites its asserts each time (bytecode writing is off): 2 s of CPU.
# unraisableexception runs gc.collect() five times at exit, 0.3-0.7 s with TensorFlow loaded.
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:unraisableexception")
LOG_TAIL_BYTES = 64 * 1024
# Marker selections (pyproject's addopts deselect slow and gpu): --slow adds the CIFAR-10
# training checks, --gpu the GPU-only ones; a cluster's training part runs only those.
SLOW_SELECTION = "slow or not (slow or gpu)"
GPU_SELECTION = "gpu or not (slow or gpu)"
EVERY_SELECTION = "slow or gpu or not (slow or gpu)"
TRAINING_SELECTIONS = {(True, False): "slow", (False, True): "gpu", (True, True): "slow or gpu"}
# The pytest run's settings variables (HW9_RUBRIC...): hw9-grade passes its own options instead,
# so that the grade fingerprint knows every setting a judge used.
SETTINGS_VARIABLES = tuple(setting.environment for setting in settings.SETTINGS)
SANDBOX_LEVELS = tuple(level.label for level in jail.Level)  # weakest first; each includes the one before
SANDBOX_DESCRIPTIONS = {
    "namespaces": "bubblewrap namespaces, with Landlock and resource limits inside",
    "landlock": "Landlock and resource limits",
    "none": "resource limits only",
}


@dataclass(frozen=True)
class GradingOptions:
    jobs: int
    timeout: float
    questions: tuple = ()  # empty: all
    seed: int = 0
    preload: bool = True
    cores: int = 1
    require_sandbox: str = "none"  # refused by the judge below it; never changes a grade, so not fingerprinted
    rubric: Path = layout.DEFAULT_RUBRIC
    worker_memory_gb: float = settings.WORKER_MEMORY_GB
    slow: bool = False  # also run the slow (CIFAR-10) checks
    gpu: bool = False  # also run the GPU checks (they skip, saying why, without a GPU)
    training_only: bool = False  # only the slow/gpu checks selected above (a cluster's GPU task)
    warm_workers: bool = True  # never changes a grade, so not fingerprinted
    fork_server_fd: int | None = None  # the class's fork server, inherited by every judge
    fork_server_pid: int | None = None
    oracle_cache: str | None = None  # the run's folder of oracle values its judges share (graders/judge/oracle_cache.py)

    def kept_processes(self):
        """Children of hw9-grade that are not judges and are not strays."""
        return {self.fork_server_pid} if self.fork_server_pid is not None else set()

    @property
    def threads_per_job(self):
        return max(1, self.cores // self.jobs)

    def fingerprinted(self):
        """The options that change a grade (the rubric by its content); OSError if the rubric cannot be read."""
        chosen = {
            "questions": sorted(self.questions), "seed": self.seed, "worker_memory_gb": self.worker_memory_gb,
            "rubric": hashlib.sha256(Path(self.rubric).read_bytes()).hexdigest(), "slow": self.slow,
        }
        if self.gpu:  # only when set, so that grades stored before --gpu existed stay current
            chosen["gpu"] = True
        if self.slow or self.gpu:  # the data the slow checks train on, or none (they skip)
            chosen["cifar10"] = os.environ.get(CIFAR10_ENV, "")
        return chosen


def judge_arguments(submission, staging, options):
    """The judge's pytest arguments; paths absolute, as the judge runs in the project's folder."""
    submission, staging = os.path.abspath(submission), Path(os.path.abspath(staging))
    arguments = [
        *(str(path) for question in questions.all_questions() for path in question.check_files()), "--submission", submission, "--grade-json", str(staging / "results.json"),
        "-q", "--assert=plain", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-p", "graders.batch.gallery_plugin", "--q2-gallery", str(staging / "q2"),
        "--grading-seed", str(options.seed), "--require-sandbox", options.require_sandbox,
        "--rubric", os.path.abspath(options.rubric), "--worker-memory-gb", f"{options.worker_memory_gb:g}",
        "--warm-workers", "yes" if options.warm_workers else "no",
    ]
    if options.questions:
        arguments += ["--questions", ",".join(options.questions)]
    selection = marker_selection(options)
    if selection:
        arguments += ["-m", selection]
    return arguments


def marker_selection(options):
    """The judge's `-m` expression for these options; "" for the default (neither slow nor gpu)."""
    if options.training_only:
        return TRAINING_SELECTIONS.get((options.slow, options.gpu), "")
    return {(True, False): SLOW_SELECTION, (False, True): GPU_SELECTION, (True, True): EVERY_SELECTION}.get((options.slow, options.gpu), "")


def ignored_settings_variables():
    """The HW9_* settings variables set here, which the judges do not get."""
    return [name for name in SETTINGS_VARIABLES if name in os.environ]


def judge_environment(options, temporary_dir):
    """The judge's environment; its worker inherits it (threads, temporary folder, HW9_CIFAR10)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_") and key not in SETTINGS_VARIABLES}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        MPLBACKEND="Agg",
        TMPDIR=str(temporary_dir),
        **thread_environment(options.threads_per_job),
    )
    env.pop(warm.FD_VARIABLE, None)
    env.pop(oracle_cache.FOLDER_VARIABLE, None)
    if options.oracle_cache is not None:
        env[oracle_cache.FOLDER_VARIABLE] = options.oracle_cache
    if options.warm_workers and options.fork_server_fd is not None:
        env[warm.FD_VARIABLE] = str(options.fork_server_fd)
    return env


def preload_libraries():
    """Import what every judge imports; return "" if judges can be forked, else why not."""
    if processes.thread_count() > 1:
        return "this process already runs threads"
    os.environ.update(SINGLE_THREAD)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryFile() as captured, _redirect_stderr(captured):
        for library in PRELOADED_LIBRARIES:
            try:
                deferred_imports.import_module(library)
            except Exception as error:
                return f"importing {library} failed ({type(error).__name__}: {error})"
    threads = processes.thread_count()
    return "" if threads == 1 else f"importing the libraries started {threads - 1} threads"


@contextlib.contextmanager
def _redirect_stderr(target):
    """TensorFlow's C++ start-up chatter goes to fd 2 directly; keep it off the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _pytest_with_fresh_project_modules(arguments):
    """pytest.main in a forked judge, with the project's own modules imported anew.

    Only third-party libraries are kept from the preloading process: the graders and
    oracles are read from disk now, as a fresh interpreter (and the judge's worker) would,
    so the judge and its worker always run the same version of the harness.
    """
    for name in [name for name in sys.modules if name.split(".", 1)[0] in PROJECT_PACKAGES]:
        del sys.modules[name]
    # The preloading process cached its own temporary folder; the judge's is TMPDIR, the
    # runner's scratch folder, which is removed even when the judge is killed.
    tempfile.tempdir = None
    import pytest

    return pytest.main(arguments)


def start_judge(submission, staging, temporary_dir, options):
    """Start grading `submission` into `staging`; return the judge's pid."""
    arguments = judge_arguments(submission, staging, options)
    env = judge_environment(options, temporary_dir)
    log = staging / "grading.log"
    if options.preload:
        return processes.spawn(lambda: _pytest_with_fresh_project_modules(arguments), log, env, layout.PROJECT_ROOT)
    return processes.spawn([sys.executable, "-m", "pytest", *arguments], log, env, layout.PROJECT_ROOT)


def _log_excerpt(log_path, limit=300):
    try:
        text = read_tail(log_path, LOG_TAIL_BYTES).decode(errors="replace")
    except (OSError, UnsafeFile):
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    interesting = [line for line in lines if line.startswith(("E ", "ERROR", "Traceback")) or "Error" in line]
    text = (interesting or lines or [""])[-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exit_description(wait_status):
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = " (possibly out of memory)" if number == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {os.waitstatus_to_exitcode(wait_status)}"


@dataclass(frozen=True)
class Outcome:
    """What a judge's end means for the gradebook."""

    status: Status
    reason: str
    results: dict = None  # scores and feedback, when any check finished
    stopped_early: bool = False  # results come from results.partial.json: they become the student's results.json
    sandbox: str = ""  # the workers' sandbox level; "" unknown
    running: str = ""  # the check under way when a grading was stopped


def outcome(staging, wait_status, timed_out, timeout, max_score=None):
    """The Outcome of a finished judge; `max_score`: what a whole grading is worth.

    The judge writes results.json atomically once every check has run, so a judge that
    wrote it has graded, even if it was stopped (or crashed) while shutting down, unless
    it says the grading was disturbed from outside. One that did not write it is
    `timeout` or `crashed`, keeping the points of the checks its results.partial.json
    lists as finished.
    """
    try:
        results = read_results(staging / "results.json")
    except ValueError as error:
        return Outcome(Status.CRASHED, f"the grading process wrote an unreadable results.json ({error})")
    if results is not None:
        data = hw9_data(results)
        if data.disturbed:
            reason = "; ".join(part for part in (f"grading was disturbed from outside: {data.disturbed}", internal_errors_note(data)) if part)
            return Outcome(Status.CRASHED, reason, results, sandbox=data.sandbox)
        return Outcome(Status.GRADED, graded_reason(results), results, sandbox=data.sandbox)
    if timed_out:
        status, stopped, excerpt = Status.TIMEOUT, f"grading did not finish within {timeout:g} s and was stopped", ""
    else:
        status, stopped, excerpt = Status.CRASHED, f"the grading process {exit_description(wait_status)}", _log_excerpt(staging / "grading.log")
    partial = _partial_results(staging)
    if partial is None:  # the judge wrote none: it never got to its first check
        stopped += " before any check had started" if timed_out else ""
        return Outcome(status, stopped + (f": {excerpt}" if excerpt else ""))
    data = hw9_data(partial)
    stopped += f" while running {data.running}" if data.running else " with no check running"
    results = stopped_results(partial, stopped, max_score)
    parts = [stopped, kept_points(len(results["tests"])), internal_errors_note(data), excerpt]
    if data.disturbed:
        status, parts = Status.CRASHED, [f"grading was disturbed from outside: {data.disturbed}", *parts]
    return Outcome(status, "; ".join(part for part in parts if part), results, stopped_early=True, sandbox=data.sandbox, running=data.running)


def _partial_results(staging):
    """The newest whole results.partial.json the judge left (see report.rewrite_json); None if none."""
    for path in rewritten_versions(partial_results_path(staging / "results.json")):
        try:
            partial = read_results(path)
        except ValueError:  # a temporary cut short by the judge's end
            continue
        if partial is not None:
            return partial
    return None


def sandbox_in_force():
    """(level, description) of the sandbox the judges' workers will get here; level "" if unknown."""
    from graders.judge import harness

    try:
        level = harness.planned_level().label
        why_not = jail.namespaces_unavailable()
        return level, SANDBOX_DESCRIPTIONS.get(level, "") + (f" (no namespaces: {why_not})" if why_not else "")
    except Exception as error:  # the grading still runs; each judge reports its own sandbox
        return "", f"it could not be determined ({type(error).__name__}: {error})"
