"""The verdict helpers: the four-part message every failed check gives, and its likely mistake as data."""
import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import CallResult, Failure
from graders.judge.mistakes import Mistake
from graders.judge.verdict import CheckFailed, diagnosis_of, expect_close, expect_equal, expect_value_error, fail, value_of

OFF_BY_HALF = Mistake("test.off-by-half", "off by half", "off by {amount}")


def _failure(check, *args, **kwargs):
    with pytest.raises(pytest.fail.Exception) as caught:
        check(*args, **kwargs)
    return caught.value


def test_expect_close_fails_with_the_four_parts_and_no_chained_error():
    failure = _failure(
        expect_close, np.array([1.0, 2.5]), np.array([1.0, 2.0]), "f(x)", rtol=1e-6, atol=1e-9,
        diagnose=lambda got: OFF_BY_HALF(amount="half"),
    )
    lines = str(failure).splitlines()
    assert lines[0] == "Checked: f(x)"
    assert lines[1].startswith("Expected: array of shape (2,), dtype float64")
    assert lines[2].startswith("Got: array of shape (2,), dtype float64")
    assert lines[3] == "Likely mistake: off by half"
    assert any("Mismatched elements: 1 / 2" in line for line in lines[4:])
    # Raised outside NumPy's AssertionError: pytest shows no "During handling of ..." block.
    assert failure.__context__ is None


def test_the_failure_carries_its_finding_and_no_traceback():
    failure = _failure(expect_close, np.array([1.0, 2.5]), np.array([1.0, 2.0]), "f(x)", rtol=1e-6, atol=1e-9,
                       diagnose=lambda got: OFF_BY_HALF(amount=np.float64(0.5)))
    assert isinstance(failure, CheckFailed) and failure.pytrace is False
    assert failure.diagnosis.data() == {"id": "test.off-by-half", "title": "off by half", "params": {"amount": 0.5}}
    assert type(failure.diagnosis.params["amount"]) is float  # NumPy scalars become plain JSON numbers


def test_a_failure_without_a_known_mistake_carries_none():
    with pytest.raises(CheckFailed) as caught:
        fail("f(x)", 1, 2)
    assert caught.value.diagnosis is None and diagnosis_of(caught) is None
    assert "Likely mistake" not in str(caught.value)


def test_a_mistake_given_as_text_is_refused():
    with pytest.raises(TypeError, match="catalogue"):
        fail("f(x)", 1, 2, "off by half")


def test_expect_close_passes_within_tolerance_and_checks_shape_first():
    expect_close(np.array([1.0, 2.0 + 1e-12]), np.array([1.0, 2.0]), "f(x)", rtol=1e-9, atol=0)
    failure = _failure(expect_close, np.zeros((2, 3)), np.zeros((3, 2)), "f(x)", rtol=0, atol=0)
    assert "Expected: shape (3, 2)" in str(failure) and "Got: shape (2, 3)" in str(failure)
    assert failure.diagnosis.mistake is generic.WRONG_SHAPE


def test_expect_equal_requires_the_same_type():
    failure = _failure(expect_equal, 3.0, 3, "g()")
    assert "returned a float, not a int" in str(failure)
    assert failure.diagnosis.data() == {"id": "return.wrong-type", "title": "wrong return type", "params": {"got_type": "float", "expected_type": "int"}}
    expect_equal((1, 2), (1, 2), "g()")


def test_expect_value_error_names_what_happened_instead():
    returned = _failure(expect_value_error, CallResult(True, value=5), "h(-1)")
    assert "returned 5" in str(returned) and "not rejected" in str(returned)
    assert returned.diagnosis.mistake is generic.ACCEPTS_INVALID
    other = _failure(expect_value_error, CallResult(False, failure=Failure.EXCEPTION, message="raised TypeError: bad", error_type="TypeError"), "h(-1)")
    assert "raised another exception type" in str(other)
    assert other.diagnosis.mistake is generic.WRONG_EXCEPTION
    expect_value_error(CallResult(False, failure=Failure.EXCEPTION, message="raised ValueError: h must be > 0", error_type="ValueError"), "h(-1)")


CALL_FAILURE_MISTAKES = {
    Failure.MISSING: ("call.missing", "the required file or name is missing"),
    Failure.IMPORT: ("call.import-error", "the module fails at import"),
    Failure.TIMEOUT: ("call.timeout", "an infinite loop or far too slow code"),
    Failure.CRASH: ("call.crash", "the process crashed (os._exit, a signal, or memory)"),
    Failure.MEMORY: ("call.memory", "the call used more memory than allowed"),
    Failure.MALFORMED: ("call.malformed", "the answer is not what a call returns"),
}


@pytest.mark.parametrize("failure_kind", list(CALL_FAILURE_MISTAKES), ids=lambda kind: kind.value)
def test_value_of_names_the_failure_kind(failure_kind):
    mistake_id, words = CALL_FAILURE_MISTAKES[failure_kind]
    failure = _failure(value_of, CallResult(False, failure=failure_kind, message="it failed"), "k()")
    assert f"Likely mistake: {words}" in str(failure)
    assert failure.diagnosis.data()["id"] == mistake_id
    assert value_of(CallResult(True, value=[1]), "k()") == [1]


def test_value_of_an_exception_names_no_mistake():
    failure = _failure(value_of, CallResult(False, failure=Failure.EXCEPTION, message="raised KeyError: 'x'", error_type="KeyError"), "k()")
    assert failure.diagnosis is None and "Got: raised KeyError" in str(failure)
