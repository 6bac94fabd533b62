"""How one submission's grading process is started, and what its exit means.

The judge is the project's pytest plugin run on the submission:
`python -m pytest graders/checks --submission S --grade-json F -q -p no:cacheprovider`,
plus the Q2 gallery plugin. With `preload`, the libraries every judge imports
(TensorFlow, Keras, keras-tuner, OpenCV, pytest) are imported once in this process and
each judge is a fork of it running `pytest.main` with the same arguments, which saves
each submission a TensorFlow import. The project's own modules are not kept: each judge
imports them afresh. The worker that runs student code is started by the judge as
always, never forked from here.
"""
import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graders.batch import processes
from graders.corpus import question_scores

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRELOADED_LIBRARIES = ("numpy", "cv2", "yaml", "pytest", "tensorflow", "keras", "keras_tuner")
PROJECT_PACKAGES = ("graders", "solutions", "conftest")
# Installed pytest plugins no check uses. Hypothesis's imports hypothesis at the end of every
# run, and pytest re-rewrites its asserts each time (bytecode writing is off): 2 s of CPU.
# unraisableexception runs gc.collect() five times at exit, 0.3-0.7 s with TensorFlow loaded.
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:unraisableexception")


@dataclass(frozen=True)
class GradingOptions:
    jobs: int
    timeout: float
    questions: tuple = ()  # empty: all
    seed: int = 0
    preload: bool = True
    cores: int = 1

    @property
    def threads_per_job(self):
        return max(1, self.cores // self.jobs)

    def fingerprinted(self):
        """The options that change a grade."""
        return {"questions": sorted(self.questions), "seed": self.seed}


def judge_arguments(submission, staging, options):
    arguments = [
        "graders/checks", "--submission", str(submission), "--grade-json", str(staging / "results.json"),
        "-q", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-p", "graders.batch.gallery_plugin", "--q2-gallery", str(staging / "q2"),
        "--grading-seed", str(options.seed),
    ]
    if options.questions:
        arguments += ["--questions", ",".join(options.questions)]
    return arguments


def judge_environment(options, temporary_dir):
    """The judge's environment; its worker inherits it (threads, temporary folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    threads = str(options.threads_per_job)
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        MPLBACKEND="Agg",
        TMPDIR=str(temporary_dir),
        OPENBLAS_NUM_THREADS=threads,
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        TF_NUM_INTRAOP_THREADS=threads,
        TF_NUM_INTEROP_THREADS=threads,
    )
    return env


def preload_libraries():
    """Import what every judge imports; return "" if judges can be forked, else why not."""
    if processes.thread_count() > 1:
        return "this process already runs threads"
    os.environ.update(processes.SINGLE_THREAD_ENVIRONMENT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryFile() as captured, _redirect_stderr(captured):
        for library in PRELOADED_LIBRARIES:
            try:
                importlib.import_module(library)
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
    import pytest

    return pytest.main(arguments)


def start_judge(submission, staging, temporary_dir, options):
    """Start grading `submission` into `staging`; return the judge's pid."""
    arguments = judge_arguments(submission, staging, options)
    env = judge_environment(options, temporary_dir)
    log = staging / "grading.log"
    if options.preload:
        return processes.spawn(lambda: _pytest_with_fresh_project_modules(arguments), log, env, PROJECT_ROOT)
    return processes.spawn([sys.executable, "-m", "pytest", *arguments], log, env, PROJECT_ROOT)


def _log_excerpt(log_path, limit=300):
    try:
        lines = [line.strip() for line in Path(log_path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
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


def outcome(staging, wait_status, timed_out, timeout):
    """(status, reason, results) of a finished judge; results is None unless graded.

    The judge writes results.json atomically once every check has run, so a judge that
    wrote it has graded, even if it was stopped (or crashed) while shutting down.
    """
    results_path = staging / "results.json"
    if results_path.is_file():
        try:
            results = json.loads(results_path.read_text())
            return "graded", graded_reason(results), results
        except ValueError as error:
            return "crashed", f"the grading process wrote an unreadable results.json ({error})", None
    if timed_out:
        return "timeout", f"grading did not finish within {timeout:g} s and was stopped", None
    excerpt = _log_excerpt(staging / "grading.log")
    return "crashed", f"the grading process {exit_description(wait_status)}" + (f": {excerpt}" if excerpt else ""), None


def graded_reason(results):
    tests = results.get("tests", [])
    lost = sum(1 for test in tests if test.get("score", 0) < test.get("max_score", 0) - 1e-9)
    reason = "all checks passed" if not lost else f"{lost} of {len(tests)} checks lost points"
    restarts = [line for line in results.get("output", "").splitlines() if line.startswith("Worker restarted")]
    if restarts:
        reason += f"; the worker was restarted {len(restarts)} time{'s' * (len(restarts) > 1)}"
    return reason


def scores_of(results):
    """(points, max points) per graded question, to the cent: results.json rounds each case."""
    maxima = {}
    for test in results.get("tests", []):
        question = test["name"].split(".", 1)[0]
        maxima[question] = maxima.get(question, 0.0) + float(test.get("max_score", 0.0))
    scores = question_scores(results)
    return {q: round(v, 2) for q, v in scores.items()}, {q: round(v, 2) for q, v in maxima.items()}


def placeholder_results(status, reason):
    """A Gradescope results.json for a submission that could not be graded."""
    return {
        "score": 0.0,
        "max_score": 100.0,
        "execution_time": 0.0,
        "output": f"This submission could not be graded ({status}): {reason}",
        "visibility": "visible",
        "tests": [],
    }
