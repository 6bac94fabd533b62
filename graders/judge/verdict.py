"""How a check fails: what it checked, what it expected, what it got, the likely mistake.

Every grader check ends in one of these helpers, so students read the same four lines
for every failure.
"""
import numpy as np
import pytest

from graders.judge.harness import Failure
from graders.worker.protocol import Unsupported


def _show(value, limit=400):
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=30, edgeitems=3, linewidth=100):
            text = f"array of shape {value.shape}, dtype {value.dtype}: {value}"
    else:
        text = repr(value) if not isinstance(value, Unsupported) else str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def fail(checked, expected, got, mistake=None, detail=""):
    """Fail the current check with the standard four-part message."""
    lines = [f"Checked: {checked}", f"Expected: {_show(expected) if not isinstance(expected, str) else expected}"]
    lines.append(f"Got: {_show(got) if not isinstance(got, str) else got}")
    if mistake:
        lines.append(f"Likely mistake: {mistake}")
    if detail:
        lines.append(detail.rstrip())
    pytest.fail("\n".join(lines), pytrace=False)


def value_of(result, checked):
    """The value of a successful call, or fail saying why the call itself failed."""
    if result.ok:
        return result.value
    mistake = {
        Failure.MISSING: "the required file or name is missing",
        Failure.IMPORT: "the module fails at import",
        Failure.TIMEOUT: "an infinite loop or far too slow code",
        Failure.CRASH: "the process crashed (os._exit, a signal, or memory)",
        Failure.MEMORY: "the call used more memory than allowed",
        Failure.MALFORMED: "the answer is not what a call returns (the worker's output was tampered with)",
    }.get(result.failure)
    fail(checked, "the call to complete", result.message, mistake, detail=result.detail)


def array_of(value, checked):
    """A NumPy array, or fail naming what was returned instead."""
    if isinstance(value, np.ndarray):
        return value
    kind = value.type_name if isinstance(value, Unsupported) else type(value).__name__
    fail(checked, "a NumPy array", f"a {kind}: {_show(value)}", "returned something other than a NumPy array")


def expect_close(got, expected, checked, rtol, atol, diagnose=None):
    """Fail unless `got` is an array of `expected`'s shape and values within tolerances."""
    got = array_of(got, checked)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        mistake = diagnose(got) if diagnose else None
        fail(checked, f"shape {expected.shape}", f"shape {got.shape}", mistake or "wrong output shape")
    if not np.issubdtype(got.dtype, np.number) or np.issubdtype(got.dtype, np.complexfloating):
        fail(checked, "a real numeric array", f"dtype {got.dtype}", "returned a non-numeric array")
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
        mistake = (diagnose(got) if diagnose else None) or f"returned a {type(got).__name__}, not a {type(expected).__name__}"
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
        fail(checked, "ValueError", f"returned {result.value!r}", "invalid arguments are not rejected: raise ValueError naming the argument")
    if result.failure is not Failure.EXCEPTION:
        value_of(result, checked)
    if not result.raised("ValueError"):
        fail(checked, "ValueError", result.message, "raised another exception type: the contract asks for ValueError")
