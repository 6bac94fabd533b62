"""The pytest plugin that turns grader checks into a grade.

Options and fixtures are registered here only. Checks live in `graders/checks/test_qN.py`
as `test_<check>` functions; `q1.<check>` is their rubric name.
"""
import importlib
import resource
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from graders import harness, jail
from graders.report import CheckOutcome, GradeReport, write_json_atomically
from graders.rubric import RubricError, load_rubric
from graders.submission import Submission

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKS_DIR = Path(__file__).resolve().parent / "checks"
_REPORT_KEY = pytest.StashKey[dict]()
KERAS_ORACLE_QUESTIONS = {"q1", "q3", "q4"}  # their oracles are Keras layers and keras-tuner objects


def pytest_addoption(parser):
    group = parser.getgroup("hw9", "hw9 grading")
    group.addoption("--submission", default=str(PROJECT_ROOT / "solutions"), help="folder of the submission to grade (default: the reference solutions/)")
    group.addoption("--grade-json", default=None, metavar="FILE", help="write a Gradescope results.json to FILE")
    group.addoption("--rubric", default=str(PROJECT_ROOT / "fixtures" / "rubric.yaml"), help="rubric YAML: points, visibility, time limits")
    group.addoption("--questions", default=None, metavar="q1,q3", help="grade only these questions")
    group.addoption("--grading-seed", type=int, default=0, help="seed of the random cases (set a private one to deter hard-coding)")
    group.addoption("--worker-memory-gb", type=float, default=8.0, help="address-space limit of the worker process")
    group.addoption("--tuner-report", default=None, metavar="DIR", help="write Q3 tuner reports (trials CSV, PNG plot) here (default: beside --grade-json)")
    group.addoption(
        "--require-sandbox", default="none", choices=[level.label for level in jail.Level],
        help="refuse to grade unless workers get at least this sandbox: namespaces (bubblewrap), landlock, none",
    )


def question_of(module_path):
    """`test_q3.py` and `test_q3_cifar.py` both grade question `q3`."""
    return Path(module_path).stem.removeprefix("test_").split("_")[0]


def check_name(item):
    """`graders/checks/test_q1.py::test_pool2d_golden[max]` -> `q1.pool2d_golden`."""
    return f"{question_of(item.fspath)}.{item.originalname.removeprefix('test_')}"


def is_check(item):
    return Path(str(item.fspath)).resolve().parent == CHECKS_DIR


def defined_checks():
    """Every check the grader modules define, whatever this run selected."""
    names = set()
    for path in sorted(CHECKS_DIR.glob("test_*.py")):
        module = importlib.import_module(f"graders.checks.{path.stem}")
        question = question_of(path)
        names.update(f"{question}.{name.removeprefix('test_')}" for name in vars(module) if name.startswith("test_"))
    return names


_JUDGE_LIMITS = (resource.RLIMIT_AS, resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU)


def _judge_limits():
    return [resource.getrlimit(which) for which in _JUDGE_LIMITS]


def pytest_configure(config):
    config.stash[_REPORT_KEY] = {
        "cases": {}, "outcomes": [], "started": time.monotonic(), "rubric": None,
        "limits": _judge_limits(), "running": None, "level": None,
    }


def pytest_unconfigure(config):
    importer = config.stash[_REPORT_KEY].get("importer")
    if importer is not None:
        importer.join()  # never let the interpreter finalise under a half-done TensorFlow import


def _present_modules(config):
    """Question files of the submission that are regular files (a link or FIFO is not read)."""
    folder = Path(config.getoption("--submission"))
    return {path.stem for path in folder.glob("q[0-9].py") if path.is_file() and not path.is_symlink()}


def pytest_runtest_setup(item):
    """A check of a question whose file is missing fails at once, without its oracle."""
    if is_check(item):
        module = check_name(item).split(".")[0]
        if module not in _present_modules(item.config):
            pytest.fail(f"{module}.py is missing from the submission", pytrace=False)


def _rubric(config):
    state = config.stash[_REPORT_KEY]
    if state["rubric"] is None:
        state["rubric"] = load_rubric(config.getoption("--rubric"))
    return state["rubric"]


def pytest_collection_modifyitems(session, config, items):
    checks = [item for item in items if is_check(item)]
    if not checks:
        return
    try:
        _rubric(config).check_against(defined_checks())
    except RubricError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_REPORT_KEY]["level"] = _sandbox_level(config)
    if _present_modules(config) & KERAS_ORACLE_QUESTIONS:
        # Keras oracles: import in the background, overlapping the worker's start.
        importer = threading.Thread(target=importlib.import_module, args=("keras_tuner",), daemon=True)
        importer.start()
        config.stash[_REPORT_KEY]["importer"] = importer
    wanted = config.getoption("--questions")
    if wanted:
        questions = {name.strip() for name in wanted.split(",")}
        keep = [item for item in items if not is_check(item) or check_name(item).split(".")[0] in questions]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    cases = config.stash[_REPORT_KEY]["cases"]
    by_check = {}
    for item in items:
        if is_check(item):
            by_check.setdefault(check_name(item), []).append(item.name_for_report)
            # Third-party libraries' warnings are no part of a grade report.
            item.add_marker(pytest.mark.filterwarnings(f"ignore::Warning:{THIRD_PARTY_MODULES}"))
    rubric = _rubric(config)
    for name, case_names in by_check.items():
        cases.update(zip(case_names, split_points(rubric[name].points, len(case_names))))


THIRD_PARTY_MODULES = r"(?!graders\b|solutions\b|tests\b)"


def split_points(points, count):
    """`points` over `count` cases in hundredths, the remainder to the first ones (largest remainder).

    The cases' maxima then add up to the check's points exactly (0.67 + 0.67 + 0.66 = 2).
    """
    cents, base = round(points * 100), round(points * 100) // count
    extra = cents - base * count
    return [(base + (index < extra)) / 100 for index in range(count)]


def _sandbox_level(config):
    """The strongest sandbox here, or a usage error when it is below --require-sandbox."""
    level, required = harness.planned_level(), jail.Level.parse(config.getoption("--require-sandbox"))
    if level < required:
        why = jail.namespaces_unavailable() or "no Landlock on this kernel"
        raise pytest.UsageError(f"--require-sandbox {required.label}: workers here get only {level.label} ({why}); not grading")
    return level


@pytest.fixture(scope="session")
def submission(request):
    """The submission under grading, run in a confined worker."""
    config = request.config
    graded = Submission(
        config.getoption("--submission"),
        memory_gb=config.getoption("--worker-memory-gb"),
        import_timeout=_rubric(config).import_timeout,
        level=config.stash[_REPORT_KEY]["level"],
    )
    config.stash[_REPORT_KEY]["submission"] = graded
    # The worker imports the submission's libraries while the judge imports its oracles.
    graded.start()
    yield graded
    graded.close()


@pytest.fixture(scope="session")
def worker_pool(request):
    """Workers on the submission with settings of their own (a data folder to read, a GPU), one per settings."""
    config = request.config
    workers = config.stash[_REPORT_KEY]["extra_workers"] = {}

    def worker(read_paths=(), memory_gb=None, allow_gpu=False):
        key = (tuple(str(path) for path in read_paths), memory_gb, allow_gpu)
        if key not in workers:
            workers[key] = Submission(
                config.getoption("--submission"),
                memory_gb=config.getoption("--worker-memory-gb") if memory_gb is None else memory_gb,
                import_timeout=_rubric(config).import_timeout,
                read_paths=read_paths,
                allow_gpu=allow_gpu,
                level=config.stash[_REPORT_KEY]["level"],
            )
        return workers[key]

    yield worker
    for graded in workers.values():
        graded.close()


class Student:
    """The submission as one check sees it: calls carry the check's time limit."""

    def __init__(self, submission, timeout):
        self._submission, self.timeout = submission, timeout

    def call(self, module, function, *args, **kwargs):
        return self._submission.call(module, function, *args, timeout=self.timeout, **kwargs)

    def attribute(self, module, name):
        return self._submission.attribute(module, name, timeout=self.timeout)

    def probe(self, probe, module, **params):
        return self._submission.probe(probe, module, timeout=self.timeout, **params)

    def probe_once(self, probe, module, **params):
        """A probe whose result several checks share (e.g. one model description)."""
        key = (probe, module, repr(sorted(params.items())))
        if key not in self._submission.shared_results:
            self._submission.shared_results[key] = self.probe(probe, module, **params)
        return self._submission.shared_results[key]


@pytest.fixture
def student(request, submission):
    return Student(submission, _rubric(request.config)[check_name(request.node)].timeout)


@pytest.fixture
def student_for(request, worker_pool):
    """`student_for(read_paths=[folder])`: the `student` of a worker with those settings."""
    timeout = _rubric(request.config)[check_name(request.node)].timeout
    return lambda **settings: Student(worker_pool(**settings), timeout)


@pytest.fixture
def rng(request):
    """A generator seeded by --grading-seed and the check's id: same cases every run."""
    seed = request.config.getoption("--grading-seed")
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if is_check(item):
        item.config.stash[_REPORT_KEY]["running"] = item.name_for_report
        _write_partial(item.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if is_check(item) and (report.when == "call" or report.failed or report.skipped):
        internal = report.failed and call.excinfo is not None and not call.excinfo.errisinstance(pytest.fail.Exception)
        _record(item, report, internal)
    return report


INTERNAL_ERROR_TEXT = "Internal grader error: this check could not be graded (not a mistake of yours); your instructor has been told."


def _record(item, report, internal=False):
    state = item.config.stash[_REPORT_KEY]
    if any(outcome.name == item.name_for_report for outcome in state["outcomes"]):
        return  # teardown after a recorded call
    name = check_name(item)
    rubric_item = _rubric(item.config)[name]
    points = state["cases"].get(item.name_for_report, rubric_item.points)
    status = "passed" if report.passed else "skipped" if report.skipped else "error" if internal else "failed"
    if report.skipped:
        output = f"skipped: {report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr}"
    elif internal:
        output = INTERNAL_ERROR_TEXT
        state.setdefault("internal_errors", []).append({"check": item.name_for_report, "error": str(report.longreprtext)[-3000:]})
    else:
        output = "" if report.passed else str(report.longreprtext)
    # Text a check adds with pytest's `record_property("output", text)`, passed or failed.
    recorded = [str(value) for key, value in report.user_properties if key == "output"]
    output = "\n\n".join(part for part in (output, *recorded) if part)
    state["outcomes"].append(
        CheckOutcome(
            name=item.name_for_report,
            question=rubric_item.question,
            max_score=points,
            score=points if report.passed else 0.0,
            status=status,
            visibility=rubric_item.visibility,
            output=output,
            seconds=report.duration,
        )
    )
    state["running"] = None
    _write_partial(item.config)


def _partial_path(config):
    path = config.getoption("--grade-json")
    return Path(path).with_name("results.partial.json") if path else None


def _write_partial(config):
    """Results so far, rewritten as each check starts and ends: a stopped grading keeps them."""
    path = _partial_path(config)
    if path is not None:
        write_json_atomically(path, _grade_report(config).gradescope())


def pytest_itemcollected(item):
    if is_check(item):
        item.name_for_report = f"{check_name(item)}{item.name[len(item.originalname):]}"


def _grade_report(config):
    state = config.stash[_REPORT_KEY]
    workers = [graded for graded in (state.get("submission"), *state.get("extra_workers", {}).values()) if graded]
    report = GradeReport(submission=config.getoption("--submission"), outcomes=list(state["outcomes"]))
    report.execution_time = time.monotonic() - state["started"]
    report.running = state["running"]
    report.internal_errors = list(state.get("internal_errors", []))
    disturbed = [graded.disturbed for graded in workers if graded.disturbed]
    if _judge_limits() != state["limits"]:
        disturbed.append("the grading process's own limits were changed from outside")
    report.disturbed = "; ".join(disturbed)
    started = [graded.sandbox for graded in workers if graded.sandbox is not None]
    if started:
        report.sandbox = started[0]
        report.events = [event for graded in workers for event in graded.events]
    return report


def pytest_terminal_summary(terminalreporter, config):
    if not config.stash[_REPORT_KEY]["outcomes"]:
        return
    report = _grade_report(config)
    terminalreporter.write_sep("=", f"hw9 grade: {report.submission}")
    if report.sandbox:
        terminalreporter.write_line(f"sandbox: {report.sandbox.description}")
    if report.disturbed:
        terminalreporter.write_line(f"DISTURBED: {report.disturbed}")
    for error in report.internal_errors:
        terminalreporter.write_line(f"INTERNAL GRADER ERROR in {error['check']}:\n{error['error']}")
    for line in report.table_lines():
        terminalreporter.write_line(line)
    path = config.getoption("--grade-json")
    if path:
        write_json_atomically(path, report.gradescope())
        terminalreporter.write_line(f"Gradescope results written to {path}")
        partial = _partial_path(config)
        if partial.exists():
            partial.unlink()
