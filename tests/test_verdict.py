"""The verdict helpers: the four-part message every failed check gives, and nothing else."""
import numpy as np
import pytest

from graders.judge.harness import CallResult, Failure
from graders.judge.verdict import expect_close, expect_equal, expect_value_error, value_of


def _failure(check, *args, **kwargs):
    with pytest.raises(pytest.fail.Exception) as caught:
        check(*args, **kwargs)
    return caught.value


def test_expect_close_fails_with_the_four_parts_and_no_chained_error():
    failure = _failure(
        expect_close, np.array([1.0, 2.5]), np.array([1.0, 2.0]), "f(x)", rtol=1e-6, atol=1e-9, diagnose=lambda got: "off by half"
    )
    lines = str(failure).splitlines()
    assert lines[0] == "Checked: f(x)"
    assert lines[1].startswith("Expected: array of shape (2,), dtype float64")
    assert lines[2].startswith("Got: array of shape (2,), dtype float64")
    assert lines[3] == "Likely mistake: off by half"
    assert any("Mismatched elements: 1 / 2" in line for line in lines[4:])
    # Raised outside NumPy's AssertionError: pytest shows no "During handling of ..." block.
    assert failure.__context__ is None


def test_expect_close_passes_within_tolerance_and_checks_shape_first():
    expect_close(np.array([1.0, 2.0 + 1e-12]), np.array([1.0, 2.0]), "f(x)", rtol=1e-9, atol=0)
    failure = _failure(expect_close, np.zeros((2, 3)), np.zeros((3, 2)), "f(x)", rtol=0, atol=0)
    assert "Expected: shape (3, 2)" in str(failure) and "Got: shape (2, 3)" in str(failure)


def test_expect_equal_requires_the_same_type():
    failure = _failure(expect_equal, 3.0, 3, "g()")
    assert "returned a float, not a int" in str(failure)
    expect_equal((1, 2), (1, 2), "g()")


def test_expect_value_error_names_what_happened_instead():
    returned = _failure(expect_value_error, CallResult(True, value=5), "h(-1)")
    assert "returned 5" in str(returned) and "not rejected" in str(returned)
    other = _failure(expect_value_error, CallResult(False, failure=Failure.EXCEPTION, message="raised TypeError: bad", error_type="TypeError"), "h(-1)")
    assert "raised another exception type" in str(other)
    expect_value_error(CallResult(False, failure=Failure.EXCEPTION, message="raised ValueError: h must be > 0", error_type="ValueError"), "h(-1)")


def test_value_of_names_the_failure_kind():
    failure = _failure(value_of, CallResult(False, failure=Failure.TIMEOUT, message="timed out after 5 s"), "k()")
    assert "Likely mistake: an infinite loop or far too slow code" in str(failure)
    assert value_of(CallResult(True, value=[1]), "k()") == [1]
