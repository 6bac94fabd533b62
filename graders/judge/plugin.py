"""The pytest plugin that turns the question packages' checks into a grade.

Registered through the `pytest11` entry point `hw9`, so `pytest --submission DIR` grades
from any folder once the package is installed. Checks are the `test_<check>` functions of
`graders/questions/qN/checks*.py`; `qN.<check>` is their rubric name. Settings:
`graders.judge.settings`; fixtures: `graders.judge.fixtures`; scores: `graders.judge.scoring`.
"""
import importlib
import threading
import time

import pytest

from graders import questions
from graders.judge import harness, jail, scoring, settings, sources, warm
from graders.judge import mistakes as generic_mistakes
from graders.judge.naming import case_name, check_name, defined_checks, is_check, question_of
from graders.judge.report import GradeReport, PartialResults, partial_results_path, remove_rewritten, write_json_atomically
from graders.judge.rubric import RubricError, load_rubric
from graders.judge.state import STATE, GradingState, judge_limits, state_of
from graders.judge.verdict import CheckFailed

pytest_plugins = ["graders.judge.fixtures"]
MARKERS = (
    "slow: trains on CIFAR-10 or runs a real tuner search; not run unless selected with -m",
    "gpu: needs a GPU and CIFAR-10; skipped with a reason otherwise",
)
UNSELECTED_BY_DEFAULT = ("slow", "gpu")  # without -m, a grading runs neither (they are worth 0 points)
# Third-party libraries' warnings are no part of a grade report.
THIRD_PARTY_MODULES = r"(?!graders\b|solutions\b|tests\b)"


def pytest_addoption(parser):
    settings.register(parser)


def pytest_configure(config):
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        grading = settings.resolve(config)
        rubric = load_rubric(grading.rubric)
    except (ValueError, RubricError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[STATE] = GradingState(settings=grading, rubric=rubric, source=sources.prepare(grading.submission))
    if config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        # No paths and no testpaths: grade, wherever pytest was started.
        config.args = [str(path) for question in questions.all_questions() for path in question.check_files()]


def pytest_unconfigure(config):
    state = config.stash.get(STATE, None)
    if state is not None and state.importer is not None:
        state.importer.join()  # never let the interpreter finalise under a half-done TensorFlow import
    if state is not None:
        state.source.close()


def pytest_collect_file(file_path, parent):
    """The question packages' `checks*.py` are test modules whatever python_files says."""
    explicit = parent.session.isinitpath(file_path)  # pytest's own collector takes a file named on the command line
    if not explicit and file_path.suffix == ".py" and file_path.name.startswith("checks") and questions.question_of_path(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_itemcollected(item):
    if is_check(item):
        item.name_for_report = case_name(item)


def _present_modules(state):
    """Question modules of the submission that are regular files (a link or FIFO is not read)."""
    folder = state.source.folder
    return {question.module for question in questions.all_questions() if _is_regular(folder / f"{question.module}.py")}


def _is_regular(path):
    return path.is_file() and not path.is_symlink()


def pytest_runtest_setup(item):
    """A check of a question whose file is missing fails at once, without its oracle."""
    if is_check(item):
        module, state = question_of(item).module, state_of(item.config)
        if module not in _present_modules(state):
            why = state.source.missing_reason(module)
            raise CheckFailed(f"{module}.py is missing from the submission" + (f": {why}" if why else ""), generic_mistakes.MISSING())


def pytest_collection_modifyitems(session, config, items):
    checks = [item for item in items if is_check(item)]
    if not checks:
        return
    state = state_of(config)
    try:
        state.rubric.check_against(defined_checks(), questions.all_questions())
    except RubricError as error:
        raise pytest.UsageError(str(error)) from None
    state.level = _sandbox_level(state.settings.require_sandbox)
    keep = [item for item in items if not is_check(item) or _selected(item, state.settings.questions, config)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    present = _present_modules(state)
    if any(question.needs_keras and question.module in present for question in questions.all_questions()):
        # Keras oracles: import in the background, overlapping the worker's start.
        state.importer = threading.Thread(target=importlib.import_module, args=("keras_tuner",), daemon=True)
        state.importer.start()
    by_check = {}
    for item in items:
        if is_check(item):
            by_check.setdefault(check_name(item), []).append(item.name_for_report)
            item.add_marker(pytest.mark.filterwarnings(f"ignore::Warning:{THIRD_PARTY_MODULES}"))
    for name, case_names in by_check.items():
        state.cases.update(zip(case_names, scoring.split_points(state.rubric[name].points, len(case_names))))


def _selected(item, wanted, config):
    if wanted and question_of(item).name not in wanted:
        return False
    if not config.option.markexpr and any(item.get_closest_marker(name) for name in UNSELECTED_BY_DEFAULT):
        return False
    return True


def _sandbox_level(required):
    """The strongest sandbox here, or a usage error when it is below the required one."""
    level = harness.planned_level()
    if level < required:
        why = jail.namespaces_unavailable() or "no Landlock on this kernel"
        raise pytest.UsageError(f"--require-sandbox {required.label}: workers here get only {level.label} ({why}); not grading")
    return level


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if is_check(item):
        state_of(item.config).running = item.name_for_report
        _write_partial(item.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if is_check(item) and (report.when == "call" or report.failed or report.skipped):
        internal = report.failed and call.excinfo is not None and not call.excinfo.errisinstance(pytest.fail.Exception)
        state = state_of(item.config)
        if scoring.record(state, item.name_for_report, state.rubric[check_name(item)], report, internal, call.excinfo):
            state.running = None
            _write_partial(item.config)
    return report


def _partial_path(state):
    path = state.settings.grade_json
    return partial_results_path(path) if path else None


def _write_partial(config):
    """Results so far, rewritten as each check starts and ends: a stopped grading keeps them."""
    state = state_of(config)
    if state.partial is None:
        path = _partial_path(state)
        if path is None:
            return
        state.partial = PartialResults(path)
    state.partial.write(_grade_report(state))


def _grade_report(state):
    workers = state.workers()
    report = GradeReport(submission=str(state.settings.submission), outcomes=list(state.outcomes), notebook=state.source.as_data())
    report.execution_time = time.monotonic() - state.started
    report.running = state.running
    report.internal_errors = list(state.internal_errors)
    report.forked_worker_cpu = warm.forked_cpu_seconds
    disturbed = [graded.disturbed for graded in workers if graded.disturbed]
    if judge_limits() != state.limits:
        disturbed.append("the grading process's own limits were changed from outside")
    report.disturbed = "; ".join(disturbed)
    started = [graded.sandbox for graded in workers if graded.sandbox is not None]
    if started:
        report.sandbox = started[0]
        report.events = [event for graded in workers for event in graded.events]
    return report


def _below_the_bar(state, report):
    """Why the run fails --fail-under, or "" when it passes it."""
    bar = state.settings.fail_under
    if bar is None:
        return ""
    if report.internal_errors or report.disturbed:
        return f"--fail-under {bar:g}: the grade is incomplete (internal grader errors or a disturbed grading)"
    if report.score < bar - 1e-9:
        return f"--fail-under {bar:g}: the score {report.score:g} is below it"
    return ""


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """With --fail-under the score decides the exit status, not the checks one by one."""
    state = session.config.stash.get(STATE, None)
    if state is None or state.settings.fail_under is None or not state.outcomes:
        return
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed = bool(_below_the_bar(state, _grade_report(state)))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(STATE, None)
    if state is None or not state.outcomes:
        return
    report = _grade_report(state)
    terminalreporter.write_sep("=", f"hw9 grade: {report.submission}")
    if report.sandbox:
        terminalreporter.write_line(f"sandbox: {report.sandbox.description}")
    if report.disturbed:
        terminalreporter.write_line(f"DISTURBED: {report.disturbed}")
    for error in report.internal_errors:
        terminalreporter.write_line(f"INTERNAL GRADER ERROR in {error.check}:\n{error.error}")
    for line in report.table_lines():
        terminalreporter.write_line(line)
    if state.settings.fail_under is not None:
        terminalreporter.write_line(_below_the_bar(state, report) or f"--fail-under {state.settings.fail_under:g}: passed")
    path = state.settings.grade_json
    if path:
        write_json_atomically(path, report.gradescope())
        terminalreporter.write_line(f"Gradescope results written to {path}")
        remove_rewritten(_partial_path(state))
