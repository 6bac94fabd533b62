"""The verdict helpers: the four-part message every failed check gives, and its likely mistake as data."""
import inspect

import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import CallResult, Failure
from graders.judge.mistakes import Mistake
from graders.judge.verdict import CheckFailed, diagnosis_of, expect_close, expect_equal, expect_value_error, fail, value_of
from graders.oracles import conv

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


# ---- a student's value is read as a number only after its dtype says it is one ------------------

def _as_text(array):
    return np.vectorize(repr)(np.asarray(array, dtype=np.float64).tolist()).astype(str)


def _filtered_as_text(image, kernel):
    """The right filter output, written as strings."""
    return _as_text(conv.filter2d(image, kernel))


def test_golden_patch_refuses_numbers_written_as_strings():
    from graders.questions.q2 import checks as q2_checks
    from tests.test_invalid_arguments import ReferenceStudent

    # float("153.55555555555554") is the right centre: only the dtype tells it is not a number.
    with pytest.raises(CheckFailed) as caught:
        q2_checks.test_golden_patch(ReferenceStudent(filter_cv2=_filtered_as_text), "filter_cv2", "blur")
    assert caught.value.diagnosis.mistake is generic.NON_NUMERIC and "dtype <U" in str(caught.value)
    with pytest.raises(CheckFailed) as caught:
        q2_checks.test_golden_patch(ReferenceStudent(filter_cv2=lambda image, kernel: np.array([["153.5"] * 3] * 3)), "filter_cv2", "blur")
    assert caught.value.diagnosis.mistake is generic.NON_NUMERIC


def test_filter_agreement_refuses_a_string_array_on_either_side():
    from graders.questions.q2 import checks as q2_checks
    from tests.test_invalid_arguments import ReferenceStudent

    oracle, strings = conv.filter2d, _filtered_as_text
    for answers in ({"filter_keras": oracle, "filter_cv2": strings}, {"filter_keras": strings, "filter_cv2": oracle}):
        with pytest.raises(CheckFailed) as caught:
            q2_checks.test_filter_agreement(ReferenceStudent(**answers), np.random.default_rng(0))
        assert caught.value.diagnosis.mistake is generic.NON_NUMERIC


def test_a_wrong_shaped_string_array_is_not_diagnosed_as_numbers():
    def diagnose(got):
        raise AssertionError("a diagnosis read a string array")
    failure = _failure(expect_close, np.array(["1.0", "2.0", "3.0"]), np.zeros(2), "f(x)", rtol=0, atol=0, diagnose=diagnose)
    assert failure.diagnosis.mistake is generic.WRONG_SHAPE


@pytest.mark.parametrize(
    "module, check, answers, args",
    [
        ("q1", "test_conv_params", {"conv_params": lambda kind, k, c, f: np.array([(k**2 * c + 1) * f] * 2)}, ("conv2d",)),
        ("q1", "test_stacked_receptive_field_golden", {"stacked_receptive_field": lambda n, k=3: np.array([n, k])}, ()),
        ("q4", "test_conv2d_output_shape", {"conv2d_output_shape": lambda shape, f, k, strides=1, padding=0: np.array([1, 1, f])}, ("golden",)),
        ("q4", "test_dense_params", {"dense_params": lambda in_units, units: np.array([in_units, units])}, ("golden",)),
        ("q4", "test_layer_table", {"layer_table": lambda: [{"layer": "Conv2D", "output_shape": np.array([22, 22, 20]), "out_size": 9680, "params": 1000}] * 7}, (1,)),
    ],
    ids=["q1-conv-params", "q1-receptive-field", "q4-output-shape", "q4-dense-params", "q4-table-row"],
)
def test_an_array_where_a_number_or_tuple_is_due_fails_as_the_wrong_type(module, check, answers, args):
    import importlib

    from tests.test_invalid_arguments import ReferenceStudent

    checks = importlib.import_module(f"graders.questions.{module}.checks")
    function = getattr(checks, check)
    student = ReferenceStudent(**answers)
    given = {"student": student, "rng": np.random.default_rng(0)}
    names = [name for name in inspect.signature(function).parameters if name not in given]
    with pytest.raises(CheckFailed) as caught:  # not an internal error: an array compares elementwise
        function(**{name: given[name] for name in inspect.signature(function).parameters if name in given}, **dict(zip(names, args)))
    assert caught.value.diagnosis.mistake is generic.WRONG_TYPE


def test_a_layer_table_with_list_output_shapes_passes_as_the_contract_allows():
    from graders.questions.q4 import checks as q4_checks
    from solutions import q4 as reference_q4
    from tests.test_invalid_arguments import ReferenceStudent

    def lists():
        return [{**row, "output_shape": list(row["output_shape"])} for row in reference_q4.layer_table()]

    def wrong():
        return [{**row, "output_shape": [row["output_shape"][0] + 1, *row["output_shape"][1:]]} for row in reference_q4.layer_table()]

    for index in range(7):
        q4_checks.test_layer_table(ReferenceStudent(layer_table=lists), index)
    with pytest.raises(CheckFailed):
        q4_checks.test_layer_table(ReferenceStudent(layer_table=wrong), 1)
