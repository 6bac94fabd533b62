"""What a judge's Gradescope results say: scores, the hw9 extra data, and the reason line.

The judge (graders/plugin.py) writes `results.json` once every check has run and,
after every check, `results.partial.json`, both with `extra_data.hw9` = {sandbox:
{level, description} or null, running: the check under way or null, disturbed: null or
why, internal_errors: [check names], notebook: null or {name, summary: [lines], modules:
{q1: source}} or {error}}; graded on a cluster, also cluster: [{node, worker_pid, training}]
(graders/batch/merge.py). Results from before those keys, or with odd
values in them, read as: sandbox unknown, nothing running, not disturbed, no errors.
"""
import json
import math
import os
from dataclasses import dataclass

from graders import layout
from graders.judge.safe_files import read_regular_file

MAX_RESULTS_BYTES = 64 * 2**20
NAMES_SHOWN = 5


@dataclass(frozen=True)
class Hw9Data:
    """`extra_data.hw9` of a results file, read defensively."""

    sandbox: str = ""  # "namespaces", "landlock", "none"; "" unknown
    sandbox_description: str = ""
    running: str = ""  # the check under way when a partial file was written
    disturbed: str = ""
    internal_errors: tuple = ()
    restarts: int = 0  # times a worker was restarted after a timeout, crash or malformed answer
    notebook: "NotebookData | None" = None  # what was built from a notebook submission
    forked_worker_cpu: float = 0.0  # CPU seconds of its workers forked by the class's fork server


@dataclass(frozen=True)
class NotebookData:
    """`extra_data.hw9.notebook`: the notebook graded and what was built from it."""

    name: str = ""
    error: str = ""  # why it could not be read; then nothing was built
    summary: tuple = ()  # the cell-by-cell account, lines a student reads
    modules: tuple = ()  # (module, built source) pairs, in question order


def _notebook(data):
    if not isinstance(data, dict):
        return None
    summary, modules = data.get("summary"), data.get("modules")
    return NotebookData(
        name=_text(data.get("name")),
        error=_text(data.get("error")),
        summary=tuple(line for line in summary if isinstance(line, str)) if isinstance(summary, list) else (),
        modules=tuple((str(name), source) for name, source in modules.items() if isinstance(source, str)) if isinstance(modules, dict) else (),
    )


def _text(value):
    return value if isinstance(value, str) else ""


def hw9_data(results):
    extra = results.get("extra_data") if isinstance(results, dict) else None
    hw9 = extra.get("hw9") if isinstance(extra, dict) else None
    if not isinstance(hw9, dict):
        return Hw9Data()
    sandbox = hw9.get("sandbox") if isinstance(hw9.get("sandbox"), dict) else {}
    errors = hw9.get("internal_errors")
    return Hw9Data(
        sandbox=_text(sandbox.get("level")),
        sandbox_description=_text(sandbox.get("description")),
        running=_text(hw9.get("running")),
        disturbed=_text(hw9.get("disturbed")).strip(),
        internal_errors=tuple(str(name) for name in errors) if isinstance(errors, list) else (),
        restarts=_count(hw9.get("restarts")),
        notebook=_notebook(hw9.get("notebook")),
        forked_worker_cpu=_seconds(hw9.get("forked_worker_cpu_seconds")),
    )


def _seconds(value):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else 0.0


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def read_results(path):
    """The results dict in `path`; None if there is no such file.

    Raises ValueError when it is not one: unreadable JSON, not an object, a link or a
    special file (the worker may have left anything where the judge writes).
    """
    if not os.path.lexists(path):
        return None
    try:
        data = json.loads(read_regular_file(path, MAX_RESULTS_BYTES))
    except (OSError, RecursionError) as error:
        raise ValueError(str(error)) from None
    tests = data.get("tests", []) if isinstance(data, dict) else None
    if not isinstance(tests, list) or not all(map(_valid_test, tests)):
        raise ValueError("not a Gradescope results object (tests with a name, a score and a max_score)")
    return data


def _valid_test(test):
    return isinstance(test, dict) and isinstance(test.get("name"), str) and isinstance(test.get("output", ""), str) and all(
        isinstance(test.get(key, 0), (int, float)) and math.isfinite(test.get(key, 0)) for key in ("score", "max_score")
    )


def names(checks):
    shown = ", ".join(checks[:NAMES_SHOWN])
    return shown + (f" and {len(checks) - NAMES_SHOWN} more" if len(checks) > NAMES_SHOWN else "")


def internal_errors_note(data):
    return f"internal grader error in: {names(list(data.internal_errors))}" if data.internal_errors else ""


def graded_reason(results):
    tests = results.get("tests", [])
    lost = sum(1 for test in tests if test.get("score", 0) < test.get("max_score", 0) - 1e-9)
    reason = "all checks passed" if not lost else f"{lost} of {len(tests)} checks lost points"
    data = hw9_data(results)
    if data.restarts:
        reason += f"; the worker was restarted {data.restarts} time{'s' * (data.restarts > 1)}"
    errors = internal_errors_note(data)
    return f"{reason}; {errors}" if errors else reason


def kept_points(count):
    if not count:
        return "no check had finished"
    return f"{count} finished check{' kept its' if count == 1 else 's kept their'} points"


def planned_max_score(questions=(), rubric_path=layout.DEFAULT_RUBRIC):
    """The points the graded questions are worth in the rubric; None if it cannot be read."""
    from graders.judge.rubric import load_rubric

    try:
        rubric = load_rubric(rubric_path)
        return float(sum(rubric.max_score(question) for question in (questions or rubric.questions())))
    except Exception:  # the plugin reports a bad rubric; here it only costs the stopped results their maximum
        return None


def stopped_results(partial, why, max_score=None):
    """The student's results.json from a partial one: the finished checks only, and why it stopped.

    `max_score`: what the whole grading was worth (else the finished checks' maximum).
    """
    running = hw9_data(partial).running
    tests = [test for test in partial.get("tests", []) if test["name"] != running]
    note = (
        f"Grading stopped before it finished: {why}. The {len(tests)} checks listed finished and keep their "
        "points; the checks not listed did not run and score nothing."
    )
    earlier = str(partial.get("output", "")).strip()
    return {
        **partial,
        "score": round(sum(float(test.get("score", 0.0)) for test in tests), 4),
        "max_score": round(max_score if max_score is not None else sum(float(test.get("max_score", 0.0)) for test in tests), 4),
        "output": f"{note}\n{earlier}" if earlier else note,
        "tests": tests,
    }


def question_name(case_name):
    """The question a check or case belongs to: q2 for q2.filter_cv2[blur-uint8]."""
    return case_name.split(".", 1)[0]


def question_scores(results):
    """Points per question in a results dict, unrounded."""
    scores = {}
    for test in results.get("tests", []):
        question = question_name(test["name"])
        scores[question] = scores.get(question, 0.0) + float(test.get("score", 0.0))
    return scores


def scores_of(results):
    """(points, max points) per graded question, to the cent: results.json rounds each case."""
    maxima = {}
    for test in results.get("tests", []):
        question = question_name(test["name"])
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
