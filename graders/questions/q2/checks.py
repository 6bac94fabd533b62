"""Q2 checks: the four named kernels, filter_keras, filter_cv2, and their agreement."""
import numpy as np
import pytest

from graders.judge import mistakes as generic
from graders.judge.harness import Failure
from graders.judge.mistakes import Located, together
from graders.judge.verdict import array_of, expect_close, fail, numeric_array_of, value_of
from graders.oracles import conv
from graders.questions.q2 import mistakes
from graders.questions.q2.tolerance import filter_tolerance

GOLDEN_PATCH = np.array([[131, 162, 232], [104, 93, 139], [243, 26, 252]], dtype=np.uint8)
# The contract's worked example: centre output of each kernel on GOLDEN_PATCH (sum 1382).
GOLDEN_CENTRES = {"blur": 1382 / 9, "laplacian": 59.0, "sobel_y": -140.0, "sobel_x": 180.0}
FILTER_FUNCTIONS = ("filter_keras", "filter_cv2")

# (kernel: a contract name or a random kernel's (height, width), image dtype, image shape).
# Together they cover every kernel, every dtype, 2-D and 1/3/4-channel images and tiny ones.
FILTER_CASES = [
    ("blur", "uint8", (17, 23, 3)),
    ("laplacian", "uint8", (19, 13)),
    ("sobel_y", "uint8", (13, 21, 4)),
    ("sobel_x", "uint8", (15, 11, 1)),
    ((5, 5), "uint8", (21, 17, 3)),
    ((3, 5), "float32", (11, 17, 3)),
    ((1, 3), "float64", (9, 13)),
    ((5, 3), "int16", (7, 15, 4)),
    ("sobel_x", "int16", (2, 5)),
    ("laplacian", "float32", (1, 1)),
]


def _case_id(case):
    kernel, dtype, shape = case
    label = kernel if isinstance(kernel, str) else f"random{kernel[0]}x{kernel[1]}"
    return f"{label}-{dtype}-{'x'.join(map(str, shape))}"


def random_kernel(rng, shape):
    # Three decimals keep the kernel printable in feedback; a random kernel is never
    # symmetric, so flipping or transposing it shows.
    return np.round(rng.normal(size=shape), 3)


def random_image(rng, dtype, shape):
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if dtype == "int16":
        return rng.integers(-1000, 1001, size=shape).astype(np.int16)
    # Non-integer values, negatives included: any rounding or clipping shows.
    return rng.uniform(-50.0, 250.0, size=shape).astype(dtype)


def case_inputs(rng, case):
    """The image, kernel and its description for one FILTER_CASES entry."""
    kernel_spec, dtype, shape = case
    if isinstance(kernel_spec, str):
        kernel, label = mistakes.contract_kernel(kernel_spec), f"{kernel_spec} kernel"
    else:
        kernel = random_kernel(rng, kernel_spec)
        label = f"random {kernel_spec[0]}x{kernel_spec[1]} kernel {kernel.tolist()}"
    return random_image(rng, dtype, shape), kernel, label


def _call_filter(student, function, image, kernel, label):
    checked = f"{function}({image.dtype} image of shape {image.shape}, {label})"
    return checked, array_of(value_of(student.call("q2", function, image, kernel), checked), checked)


def _with_dtype(diagnose, got_dtype, image_dtype):
    """The value mistake, plus the dtype's when the output is not float."""
    def diagnose_with_dtype(got):
        mistake = diagnose(got)
        if np.issubdtype(got_dtype, np.floating):
            return mistake
        return together(mistake, mistakes.dtype_mistake(got_dtype, image_dtype), joiner="; ")
    return diagnose_with_dtype


def check_filter(student, function, image, kernel, label):
    """`function(image, kernel)` must equal the float64 oracle within float32 tolerance, as float."""
    checked, got = _call_filter(student, function, image, kernel, label)
    rtol, atol = filter_tolerance(image, kernel)
    diagnose = _with_dtype(mistakes.filter_diagnosis(image, kernel, rtol, atol), got.dtype, image.dtype)
    expect_close(got, conv.filter2d(image, kernel), checked, rtol=rtol, atol=atol, diagnose=diagnose)
    if not np.issubdtype(got.dtype, np.floating):
        fail(checked, "a float32 or float64 array", f"dtype {got.dtype}", mistakes.dtype_mistake(got.dtype, image.dtype))


# ---- kernel(name) -----------------------------------------------------------------------

@pytest.mark.parametrize("name", mistakes.KERNEL_NAMES)
def test_kernel(student, name):
    checked = f"kernel({name!r})"
    got = array_of(value_of(student.call("q2", "kernel", name), checked), checked)
    diagnose = lambda wrong: mistakes.diagnose_kernel(wrong, name)  # noqa: E731
    expect_close(got, mistakes.contract_kernel(name), checked, rtol=1e-6, atol=1e-9, diagnose=diagnose)
    if not np.issubdtype(got.dtype, np.floating):
        fail(checked, "a float kernel", f"dtype {got.dtype}", mistakes.INTEGER_KERNEL())


@pytest.mark.parametrize("which", ["16", "random"])
def test_kernel_divisor(student, rng, which):
    divisor = 16 if which == "16" else float(np.round(rng.uniform(2.0, 40.0), 1))
    checked = f"kernel('blur', divisor={divisor!r})"
    got = array_of(value_of(student.call("q2", "kernel", "blur", divisor=divisor), checked), checked)
    diagnose = lambda wrong: mistakes.diagnose_kernel(wrong, "blur", divisor)  # noqa: E731
    expect_close(got, mistakes.contract_kernel("blur", divisor), checked, rtol=1e-6, atol=1e-9, diagnose=diagnose)


@pytest.mark.parametrize("which", ["gaussian", "random"])
def test_kernel_unknown_name(student, rng, which):
    name = which if which == "gaussian" else f"edge_{rng.integers(1000)}"
    checked = f"kernel({name!r})"
    result = student.call("q2", "kernel", name)
    if result.ok:
        fail(checked, "ValueError", f"returned {result.value!r}", mistakes.UNKNOWN_NAME_ACCEPTED())
    if result.failure is not Failure.EXCEPTION:
        value_of(result, checked)
    if not result.raised("ValueError"):
        fail(checked, "ValueError", result.message, mistakes.UNKNOWN_NAME_EXCEPTION())


# ---- the golden worked example ----------------------------------------------------------

@pytest.mark.parametrize("name", mistakes.KERNEL_NAMES)
@pytest.mark.parametrize("function", FILTER_FUNCTIONS)
def test_golden_patch(student, function, name):
    kernel = mistakes.contract_kernel(name)
    checked, got = _call_filter(student, function, GOLDEN_PATCH, kernel, f"{name} kernel")
    checked = f"centre of {checked} on the contract's golden 3x3 uint8 patch"
    diagnose = _with_dtype(mistakes.filter_diagnosis(GOLDEN_PATCH, kernel, rtol=0, atol=1e-3), got.dtype, GOLDEN_PATCH.dtype)
    if got.shape != GOLDEN_PATCH.shape:
        fail(checked, f"shape {GOLDEN_PATCH.shape}", f"shape {got.shape}", diagnose(got) or generic.WRONG_SHAPE())
    centre = float(numeric_array_of(got, checked)[1, 1])  # never float() of a string array's "153.5"
    if not abs(centre - GOLDEN_CENTRES[name]) <= 1e-3:
        fail(checked, f"{GOLDEN_CENTRES[name]:.4f}", f"{centre:.4f} (whole output {got.tolist()})", diagnose(got))


# ---- filter_keras and filter_cv2 on random images ---------------------------------------

@pytest.mark.parametrize("case", FILTER_CASES, ids=_case_id)
def test_filter_keras(student, rng, case):
    check_filter(student, "filter_keras", *case_inputs(rng, case))


@pytest.mark.parametrize("case", FILTER_CASES, ids=_case_id)
def test_filter_cv2(student, rng, case):
    check_filter(student, "filter_cv2", *case_inputs(rng, case))


def _disagreement(image, kernel, outputs, rtol, atol):
    """Which function strays from the oracle, and with what mistake."""
    def diagnose(_):
        expected = conv.filter2d(image, kernel)
        reasons = []
        for function, got in outputs.items():
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=rtol, atol=atol):
                mistake = mistakes.filter_diagnosis(image, kernel, rtol, atol)(got)
                reasons.append(Located(function, mistake, form="{where} is wrong ({finding})", unknown="no known mistake matches"))
        return together(*reasons, joiner="; ")
    return diagnose


def test_filter_agreement(student, rng):
    """filter_keras and filter_cv2 give the same result on the same random inputs."""
    inputs = [
        (random_image(rng, "uint8", (23, 19, 3)), random_kernel(rng, (3, 5)), "random 3x5 kernel"),
        (random_image(rng, "float32", (16, 21)), mistakes.contract_kernel("sobel_x"), "sobel_x kernel"),
    ]
    for image, kernel, label in inputs:
        outputs = {}
        for function in FILTER_FUNCTIONS:
            checked, got = _call_filter(student, function, image, kernel, label)
            outputs[function] = numeric_array_of(got, checked)  # compared as float64 below
        rtol, atol = filter_tolerance(image, kernel)
        checked = f"filter_keras and filter_cv2 agree on a {image.dtype} image of shape {image.shape}, {label}"
        diagnose = _disagreement(image, kernel, outputs, rtol, atol)
        expect_close(outputs["filter_keras"], outputs["filter_cv2"], checked, rtol=2 * rtol, atol=2 * atol, diagnose=diagnose)
