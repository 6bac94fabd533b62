"""Invalid arguments exactly as the contract lists them: the calls the graders make, and how they report them.

`contract_reasons` restates ASSIGNMENT.md's "Conventions for every function": every call an
invalid-arguments case makes must be invalid for exactly its one declared reason, every
reason the contract requires must be called, and no other check calls anything invalid.
The checks run here in process against `ReferenceStudent`, the reference solutions with
chosen functions replaced.
"""
import inspect
import itertools
import re

import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import CallResult, Failure
from graders.judge.verdict import CheckFailed, InvalidCall, expect_value_errors, names_argument
from graders.layout import CORPUS_DIR
from graders.questions.q1 import checks as q1_checks
from graders.questions.q2 import checks as q2_checks
from graders.questions.q4 import checks as q4_checks
from solutions import q1 as reference_q1, q2 as reference_q2, q4 as reference_q4

REFERENCE = {"q1": reference_q1, "q2": reference_q2, "q4": reference_q4}
TABLES = {"q1": q1_checks.INVALID_CALLS, "q4": q4_checks.INVALID_CALLS}
SIZES = ("kernel_size", "pool_size", "strides", "n_layers", "filters", "in_channels", "units", "in_units")
CHOICES = {"kind": ("conv1d", "conv2d", "conv3d"), "mode": ("max", "avg", "min"), "name": ("blur", "laplacian", "sobel_y", "sobel_x")}
WINDOWS = {"pool2d": "pool_size", "conv2d_output_shape": "kernel_size", "pool2d_output_shape": "pool_size", "locally_connected2d_params": "kernel_size"}
# What each question's invalid-arguments cases must call: every reason that applies to its functions,
# and a window larger than the (padded) input for each function the contract names.
REQUIRED = {
    "q1": {"kind", "mode", "kernel_size", "in_channels", "filters", "n_layers", "pool_size", "strides", "window:pool2d"},
    "q4": {"kernel_size", "filters", "strides", "pool_size", "units", "in_units", "padding",
           "window:conv2d_output_shape", "window:pool2d_output_shape", "window:locally_connected2d_params"},
}


def contract_reasons(module, function, args, kwargs):
    """Why the contract requires this call to raise ValueError (argument names, "window" for a window
    larger than the padded input); empty when it does not."""
    bound = inspect.signature(getattr(REFERENCE[module], function)).bind(*args, **kwargs)
    bound.apply_defaults()
    values, reasons = bound.arguments, set()
    for name, value in values.items():
        if name in CHOICES and value not in CHOICES[name]:
            reasons.add(name)
        if name in SIZES and value is not None and value < 1:
            reasons.add(name)
        if name == "padding" and value < 0:
            reasons.add(name)
    if function in WINDOWS:
        spatial = np.shape(values["x"])[:2] if function == "pool2d" else tuple(values["input_shape"][:2])
        if any(values[WINDOWS[function]] > length + 2 * values.get("padding", 0) for length in spatial):
            reasons.add("window")
    return reasons


def _declared(call):
    return "window" if "input" in call.names else call.names[0]


def _invalid_calls():
    return [(module, case, call) for module, table in TABLES.items() for case, calls in table.items() for call in calls]


def _id(entry):
    module, case, call = entry
    return f"{module}-{case}-{call.text()}"


class ReferenceStudent:
    """The reference solutions as a `student`, in process: `answers[function]` replaces one
    (returning a value, raising, or giving a CallResult itself); every call is recorded."""

    def __init__(self, **answers):
        self.answers, self.calls = answers, []

    def call(self, module, function, *args, **kwargs):
        self.calls.append((module, function, args, kwargs))
        target = self.answers.get(function, getattr(REFERENCE[module], function))
        try:
            value = target(*args, **kwargs)
        except Exception as error:  # the worker reports a raised exception by its class name
            return CallResult(False, failure=Failure.EXCEPTION, message=f"raised {type(error).__name__}: {error}", error_type=type(error).__name__)
        return value if isinstance(value, CallResult) else CallResult(True, value=value)


def _failure_of(check, *args):
    with pytest.raises(CheckFailed) as caught:
        check(*args)
    return caught.value


# ---- the calls made are the contract's ----------------------------------------------------------

@pytest.mark.parametrize("entry", _invalid_calls(), ids=_id)
def test_each_call_is_invalid_for_exactly_its_declared_reason(entry):
    module, _, call = entry
    assert contract_reasons(module, call.function, call.args, call.kwargs) == {_declared(call)}
    with pytest.raises(ValueError) as raised:
        getattr(REFERENCE[module], call.function)(*call.args, **call.kwargs)
    assert names_argument(str(raised.value), call.names), str(raised.value)


@pytest.mark.parametrize("module", list(REQUIRED))
def test_every_reason_the_contract_requires_is_called(module):
    called = {f"window:{call.function}" if _declared(call) == "window" else _declared(call)
              for calls in TABLES[module].values() for call in calls}
    assert REQUIRED[module] <= called, sorted(REQUIRED[module] - called)


@pytest.mark.parametrize("which", ["gaussian", "random"])
def test_the_unknown_kernel_names_are_unknown(which):
    student = ReferenceStudent()
    q2_checks.test_kernel_unknown_name(student, np.random.default_rng(0), which)
    [(module, function, args, kwargs)] = student.calls
    assert contract_reasons(module, function, args, kwargs) == {"name"}


def _parametrized(check):
    """Every combination of a check's parametrize values, as keyword arguments."""
    grids = []
    for mark in getattr(check, "pytestmark", []):
        if mark.name == "parametrize":
            names, values = mark.args[0], mark.args[1]
            names = [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)
            grids.append([dict(zip(names, value if len(names) > 1 else (value,))) for value in values])
    return [dict(kv for part in combination for kv in part.items()) for combination in itertools.product(*grids)]


VALID_CHECKS = [
    (module, name) for module in (q1_checks, q4_checks) for name in dir(module)
    if name.startswith("test_") and name != "test_invalid_arguments"
] + [(q2_checks, "test_kernel"), (q2_checks, "test_kernel_divisor")]


@pytest.mark.parametrize("module, name", VALID_CHECKS, ids=[f"{module.__name__.split('.')[2]}-{name}" for module, name in VALID_CHECKS])
def test_no_other_check_calls_anything_invalid(module, name):
    check = getattr(module, name)
    student = ReferenceStudent()
    for seed in range(3):
        for params in _parametrized(check):
            arguments = {"student": student, "rng": np.random.default_rng(seed), **params}
            check(**{key: arguments[key] for key in inspect.signature(check).parameters})
    assert student.calls
    invalid = [(function, args, kwargs) for question, function, args, kwargs in student.calls if contract_reasons(question, function, args, kwargs)]
    assert not invalid


def test_every_case_the_corpus_names_still_exists():
    # The keys read as text: an entry being written may not parse yet.
    named = {found.groups() for path in sorted(CORPUS_DIR.glob("*/expected.yaml"))
             for found in re.finditer(r"\b(q\d)\.invalid_arguments\[([^\]]+)\]", path.read_text())}
    assert named  # hostile-function-hang and hostile-missing-module list theirs
    assert {case for module, case in named if case not in TABLES[module]} == set()


# ---- every call reported, in one message ------------------------------------------------------

def _conv_params_wrong_for_zero(kind, kernel_size, in_channels, filters):
    if in_channels == 0:
        return 0
    if filters == 0:
        raise TypeError("no filters")
    return reference_q1.conv_params(kind, kernel_size, in_channels, filters)


def test_a_case_runs_every_call_and_reports_each_one():
    student = ReferenceStudent(conv_params=_conv_params_wrong_for_zero)
    failure = _failure_of(q1_checks.test_invalid_arguments, student, "non-positive-size")
    calls = q1_checks.INVALID_CALLS["non-positive-size"]
    assert len(student.calls) == len(calls)
    text = str(failure)
    assert f"Got: 2 of {len(calls)} calls failed" in text
    assert "FAILED  conv_params('conv2d', 3, 0, 8) [in_channels below 1]: returned 0" in text
    assert "FAILED  conv_params('conv1d', 3, 2, 0) [filters below 1]: raised TypeError: no filters" in text
    assert "passed  conv_params('conv2d', 0, 3, 8) [kernel_size below 1]: raised ValueError" in text
    for call in calls:
        assert call.text() in text
    assert [finding.data() for finding in failure.diagnosis.findings()] == [
        {"id": "call.accepts-invalid", "title": "invalid arguments not rejected", "params": {"calls": "conv_params('conv2d', 3, 0, 8)"}},
        {"id": "call.wrong-exception", "title": "raised another exception than ValueError", "params": {"calls": "conv_params('conv1d', 3, 2, 0)"}},
    ]


def test_calls_that_fail_alike_are_one_finding_listing_them():
    timed_out = CallResult(False, failure=Failure.TIMEOUT, message="not run: an earlier call of `dense_params` timed out after 30 s")
    student = ReferenceStudent(dense_params=lambda in_units, units: timed_out, pool2d_output_shape=lambda *args, **kwargs: (1, 1, 1))
    failure = _failure_of(q4_checks.test_invalid_arguments, student, "non-positive-size")
    assert "not run: an earlier call of `dense_params` timed out" in str(failure)
    by_id = {finding.mistake.id: finding.params["calls"] for finding in failure.diagnosis.findings()}
    assert by_id == {
        "call.accepts-invalid": "pool2d_output_shape((8, 8, 1), 0); pool2d_output_shape((8, 8, 1), 2, strides=0)",
        "call.timeout": "dense_params(10, 0); dense_params(0, 10)",
    }


def _vague_dense_params(in_units, units):
    raise ValueError("sizes must be positive")


def test_a_message_that_does_not_name_the_argument_fails_the_call():
    calls = [InvalidCall("dense_params", (10, 0), {}, "units below 1", ("units",)),
             InvalidCall("dense_params", (0, 10), {}, "in_units below 1", ("in_units",))]
    failure = _failure_of(expect_value_errors, ReferenceStudent(dense_params=_vague_dense_params), "q4", calls, "invalid arguments")
    text = str(failure)
    assert "Got: 2 of 2 calls failed" in text
    assert "FAILED  dense_params(0, 10) [in_units below 1]: raised ValueError: sizes must be positive " \
           "(the message does not name in_units, as the contract asks)" in text
    assert [finding.mistake.id for finding in failure.diagnosis.findings()] == [generic.UNNAMED_ARGUMENT.id]
    expect_value_errors(ReferenceStudent(), "q4", calls, "invalid arguments")  # the reference names both


@pytest.mark.parametrize(
    "message, names, named",
    [
        ("units must be a positive int, got units=0", ("units",), True),
        ("in_units must be a positive int", ("units",), False),
        ("kernel_size=5 is larger than the padded input 4", ("kernel_size", "input"), True),
        ("window 5 is larger than the padded input 4", ("kernel_size", "input"), True),
        ("kernel/pool size 8 does not fit", ("kernel_size", "input"), False),
        ("sizes must be positive", ("filters",), False),
    ],
    ids=["units", "in_units-is-not-units", "window-by-name", "window-by-input", "kernel-size-in-words", "vague"],
)
def test_names_argument(message, names, named):
    assert names_argument(message, names) is named


def test_the_hint_no_longer_claims_the_name_is_checked():
    assert "naming" not in generic.ACCEPTS_INVALID.hint and "naming" not in generic.WRONG_EXCEPTION.hint
