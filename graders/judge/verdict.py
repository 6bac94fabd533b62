"""How a check fails: what it checked, what it expected, what it got, the likely mistake.

Every grader check ends in one of these helpers, so students read the same four lines
for every failure. The likely mistake travels as data too: `fail` raises `CheckFailed`,
whose `diagnosis` the plugin stores with the case's outcome (results.json's extra_data).
"""
import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import Failure
from graders.judge.mistakes import Finding, Joined, Located
from graders.worker.protocol import Unsupported

DIAGNOSES = (Finding, Joined, Located)


class CheckFailed(pytest.fail.Exception):
    """pytest.fail(message, pytrace=False) that also carries the likely mistake (or None)."""

    def __init__(self, message, diagnosis=None):
        super().__init__(message, pytrace=False)
        self.diagnosis = diagnosis


def diagnosis_of(excinfo):
    """The diagnosis a failed check raised with, from pytest's ExceptionInfo (or None)."""
    value = excinfo.value if excinfo is not None else None
    return value.diagnosis if isinstance(value, CheckFailed) else None


def _show(value, limit=400):
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=30, edgeitems=3, linewidth=100):
            text = f"array of shape {value.shape}, dtype {value.dtype}: {value}"
    else:
        text = repr(value) if not isinstance(value, Unsupported) else str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def fail(checked, expected, got, mistake=None, detail=""):
    """Fail the current check with the standard four-part message; `mistake` a Finding, Joined, Located or None."""
    if mistake is not None and not isinstance(mistake, DIAGNOSES):
        raise TypeError(f"a likely mistake is a catalogue Finding, not {type(mistake).__name__}: {mistake!r}")
    lines = [f"Checked: {checked}", f"Expected: {_show(expected) if not isinstance(expected, str) else expected}"]
    lines.append(f"Got: {_show(got) if not isinstance(got, str) else got}")
    if mistake is not None:
        lines.append(f"Likely mistake: {mistake.text()}")
    if detail:
        lines.append(detail.rstrip())
    raise CheckFailed("\n".join(lines), mistake)


CALL_FAILURES = {
    Failure.MISSING: generic.MISSING,
    Failure.IMPORT: generic.IMPORT_ERROR,
    Failure.TIMEOUT: generic.TIMEOUT,
    Failure.CRASH: generic.CRASH,
    Failure.MEMORY: generic.MEMORY,
    Failure.MALFORMED: generic.MALFORMED,
}


def value_of(result, checked):
    """The value of a successful call, or fail saying why the call itself failed."""
    if result.ok:
        return result.value
    mistake = CALL_FAILURES.get(result.failure)
    fail(checked, "the call to complete", result.message, mistake() if mistake else None, detail=result.detail)


def array_of(value, checked):
    """A NumPy array, or fail naming what was returned instead."""
    if isinstance(value, np.ndarray):
        return value
    kind = value.type_name if isinstance(value, Unsupported) else type(value).__name__
    fail(checked, "a NumPy array", f"a {kind}: {_show(value)}", generic.NOT_AN_ARRAY())


def expect_close(got, expected, checked, rtol, atol, diagnose=None):
    """Fail unless `got` is an array of `expected`'s shape and values within tolerances."""
    got = array_of(got, checked)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        mistake = diagnose(got) if diagnose else None
        fail(checked, f"shape {expected.shape}", f"shape {got.shape}", mistake or generic.WRONG_SHAPE())
    if not np.issubdtype(got.dtype, np.number) or np.issubdtype(got.dtype, np.complexfloating):
        fail(checked, "a real numeric array", f"dtype {got.dtype}", generic.NON_NUMERIC())
    try:
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
        return
    except AssertionError as error:
        summary = str(error).strip().splitlines()
    # Failing outside the except block: inside it, pytest would print NumPy's whole
    # message and "During handling of the above exception" before ours.
    mistake = diagnose(got) if diagnose else None
    fail(checked, expected, got, mistake, detail="\n".join(line for line in summary[1:6] if line.strip()))


def expect_equal(got, expected, checked, diagnose=None):
    """Fail unless got equals expected and has its type (an int for an int, a tuple for a tuple)."""
    if not _same_kind(got, expected):
        mistake = (diagnose(got) if diagnose else None) or generic.WRONG_TYPE(got_type=type(got).__name__, expected_type=type(expected).__name__)
        fail(checked, expected, got, mistake)
    if got != expected:
        fail(checked, expected, got, diagnose(got) if diagnose else None)


def _same_kind(got, expected):
    if isinstance(got, bool) != isinstance(expected, bool):
        return False
    if isinstance(expected, int):
        return isinstance(got, (int, np.integer))
    if isinstance(expected, float):
        return isinstance(got, (int, float, np.integer, np.floating))
    if isinstance(expected, tuple):
        return isinstance(got, tuple) and len(got) == len(expected) and all(map(_same_kind, got, expected))
    return type(got) is type(expected)


def expect_value_error(result, checked):
    """Fail unless the call raised ValueError."""
    if result.ok:
        fail(checked, "ValueError", f"returned {result.value!r}", generic.ACCEPTS_INVALID())
    if result.failure is not Failure.EXCEPTION:
        value_of(result, checked)
    if not result.raised("ValueError"):
        fail(checked, "ValueError", result.message, generic.WRONG_EXCEPTION())
