"""How a check fails: what it checked, what it expected, what it got, the likely mistake.

Every grader check ends in one of these helpers, so students read the same four lines
for every failure. The likely mistake travels as data too: `fail` raises `CheckFailed`,
whose `diagnosis` the plugin stores with the case's outcome (results.json's extra_data).
"""
import re
from dataclasses import dataclass

import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import Failure
from graders.judge.mistakes import Finding, Joined, Located, together
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


def _short(text, limit=300):
    text = " ".join(str(text).split())
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


def is_real_numeric(array):
    """Whether an array holds real numbers (ints or floats; not bool, complex, strings or objects)."""
    return np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)


def numeric_array_of(value, checked):
    """A NumPy array of real numbers, or fail: a value is read as a number only after this."""
    array = array_of(value, checked)
    if not is_real_numeric(array):
        fail(checked, "a real numeric array", f"dtype {array.dtype}", generic.NON_NUMERIC())
    return array


def expect_close(got, expected, checked, rtol, atol, diagnose=None):
    """Fail unless `got` is an array of `expected`'s shape and values within tolerances."""
    got = array_of(got, checked)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        # Diagnoses read values as float64: never a string or object array's.
        mistake = diagnose(got) if diagnose and got.dtype.kind in "biuf" else None
        fail(checked, f"shape {expected.shape}", f"shape {got.shape}", mistake or generic.WRONG_SHAPE())
    numeric_array_of(got, checked)
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


def _not_a_value_error(result):
    """(what the call did instead, its catalogue Mistake), or None when it raised ValueError."""
    if result.ok:
        return f"returned {_show(result.value, limit=200)}", generic.ACCEPTS_INVALID
    if result.failure is not Failure.EXCEPTION:
        return result.message, CALL_FAILURES.get(result.failure)
    if not result.raised("ValueError"):
        return result.message, generic.WRONG_EXCEPTION
    return None


def expect_value_error(result, checked):
    """Fail unless the call raised ValueError."""
    instead = _not_a_value_error(result)
    if instead is None:
        return
    if result.failure not in (Failure.NONE, Failure.EXCEPTION):
        value_of(result, checked)
    got, mistake = instead
    fail(checked, "ValueError", got, mistake())


def names_argument(message, names):
    """Whether `message` names one of `names` as a word of its own (`units` is not named by `in_units`)."""
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) for name in names)


@dataclass(frozen=True)
class InvalidCall:
    """One call the contract requires to raise ValueError: `why` it is invalid, and the `names` its
    message should contain: the argument's; for a window larger than the input also "input", since
    "window 5 is larger than the padded input 4" names what is wrong as well as "kernel_size=5" does."""

    function: str
    args: tuple
    kwargs: dict
    why: str
    names: tuple

    def text(self):
        shown = [f"{arg.dtype} array {arg.shape}" if isinstance(arg, np.ndarray) else repr(arg) for arg in self.args]
        return f"{self.function}({', '.join(shown + [f'{key}={value!r}' for key, value in self.kwargs.items()])})"


def expect_value_errors(student, module, calls, checked):
    """Make every call; fail unless each raised ValueError, reporting every call in one message.

    The likely mistakes are one finding per kind of failure (`calls`: its calls, "; " between them), told together.
    A ValueError whose message does not name the argument fails too: the contract asks for it.
    """
    lines, failed = [], {}
    for call in calls:
        result = student.call(module, call.function, *call.args, **call.kwargs)
        instead, note = _not_a_value_error(result), ""
        if instead is None and not names_argument(result.message, call.names):
            note = f" (the message does not name {' or '.join(call.names)}, as the contract asks)"
            instead = (result.message, generic.UNNAMED_ARGUMENT)
        if instead is None:
            lines.append(f"  passed  {call.text()} [{call.why}]: {_short(result.message)}{note}")
            continue
        got, mistake = instead
        lines.append(f"  FAILED  {call.text()} [{call.why}]: {_short(got)}{note}")
        failed.setdefault(mistake, []).append(call.text())
    if not failed:
        return
    count = sum(len(texts) for texts in failed.values())
    diagnosis = together(*(mistake(calls="; ".join(texts)) for mistake, texts in failed.items() if mistake is not None))
    fail(f"{checked}: {len(calls)} calls, each with one invalid argument", "ValueError from every call",
         f"{count} of {len(calls)} calls failed", diagnosis, detail="Every call:\n" + "\n".join(lines))
