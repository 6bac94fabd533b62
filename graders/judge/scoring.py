"""A check's points over its cases, and one finished case as a CheckOutcome."""
from graders.judge.report import CheckOutcome
from graders.judge.state import InternalError
from graders.judge.verdict import diagnosis_of

INTERNAL_ERROR_TEXT = "Internal grader error: this check could not be graded (not a mistake of yours); your instructor has been told."


def split_points(points, count):
    """`points` over `count` cases in hundredths, the remainder to the first ones (largest remainder).

    The cases' maxima then add up to the check's points exactly (0.67 + 0.67 + 0.66 = 2).
    """
    cents, base = round(points * 100), round(points * 100) // count
    extra = cents - base * count
    return [(base + (index < extra)) / 100 for index in range(count)]


def record(state, case, rubric_item, report, internal=False, excinfo=None):
    """Add case `case`'s outcome from pytest's `report`; False if it was recorded already (a teardown).

    `excinfo`: the call's exception; a failed check's carries its likely mistake as data.
    """
    if any(outcome.name == case for outcome in state.outcomes):
        return False
    points = state.cases.get(case, rubric_item.points)
    status = "passed" if report.passed else "skipped" if report.skipped else "error" if internal else "failed"
    if report.skipped:
        output = f"skipped: {report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr}"
    elif internal:
        output = INTERNAL_ERROR_TEXT
        state.internal_errors.append(InternalError(check=case, error=str(report.longreprtext)[-3000:]))
    else:
        output = "" if report.passed else str(report.longreprtext)
    # Text a check adds with pytest's `record_property("output", text)`, passed or failed.
    recorded = [str(value) for key, value in report.user_properties if key == "output"]
    state.outcomes.append(
        CheckOutcome(
            name=case,
            question=rubric_item.question,
            max_score=points,
            score=points if report.passed else 0.0,
            status=status,
            visibility=rubric_item.visibility,
            output="\n\n".join(part for part in (output, *recorded) if part),
            seconds=report.duration,
            mistakes=_mistakes(excinfo) if report.failed else [],
        )
    )
    return True


def _mistakes(excinfo):
    diagnosis = diagnosis_of(excinfo)
    return [finding.data() for finding in diagnosis.findings()] if diagnosis is not None else []
