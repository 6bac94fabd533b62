"""Q1 checks: parameter counts, input ranks, receptive fields, pooling."""
import functools

import numpy as np
import pytest

from graders.judge.verdict import InvalidCall, expect_close, expect_equal, expect_value_errors, fail, value_of
from graders.oracles import conv
from graders.oracles.keras_scope import without_weights
from graders.questions.q1 import mistakes as mistakes_q1

KINDS = ("conv1d", "conv2d", "conv3d")
MODES = ("max", "avg", "min")
DTYPE_FAMILIES = ("uint8", "int", "float")
POOL_RTOL, POOL_ATOL = 1e-5, 1e-4  # a float32 mean of uint8 values is good to ~1e-5

GOLDEN_POOL_INPUT = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]])
GOLDEN_POOL_OUTPUT = {
    "max": [[9, 7], [8, 6]],
    "avg": [[4.25, 4.25], [4.25, 3.5]],
    "min": [[2, 1], [1, 2]],
}


def _keras_conv_class(kind):
    import keras

    return {"conv1d": keras.layers.Conv1D, "conv2d": keras.layers.Conv2D, "conv3d": keras.layers.Conv3D}[kind]


@functools.lru_cache(maxsize=None)
def keras_conv_params(kind, kernel_size, in_channels, filters):
    """count_params() of the Keras layer, built on an input just large enough for the kernel."""
    spatial = (kernel_size,) * (KINDS.index(kind) + 1)
    with without_weights():
        layer = _keras_conv_class(kind)(filters, kernel_size)
        layer.build((None, *spatial, in_channels))
        return layer.count_params()


@functools.lru_cache(maxsize=None)
def keras_sample_rank(kind):
    """The rank Keras's layer requires of a batch, minus the batch axis."""
    return _keras_conv_class(kind)(1, 1).input_spec.min_ndim - 1


def receptive_field_by_stacking(n_layers, kernel_size):
    """How many input pixels influence one output pixel of n stacked stride-1 convolutions.

    Feeds every one-hot input (the identity matrix as a batch) through n all-ones valid
    correlations and counts the inputs that reach output position 0.
    """
    length = n_layers * kernel_size + 1
    signal = np.eye(length)[:, :, None]
    ones = np.ones((kernel_size, 1, 1))
    for _ in range(n_layers):
        signal = conv.correlate(signal, ones)
    return int(np.count_nonzero(signal[:, 0, 0]))


def describe(x):
    return f"{x.dtype} array {x.shape}"


def random_image(rng, shape, family):
    """uint8 over the full range (sums overflow uint8), signed ints, or float32/float64."""
    if family == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if family == "int":
        return rng.integers(-100, 101, shape).astype((np.int32, np.int64)[rng.integers(2)])
    return rng.normal(0, 10, shape).astype((np.float32, np.float64)[rng.integers(2)])


def random_pool_cases(rng, family):
    """(x, pool_size, strides): default strides with a ragged edge, strides != pool_size, explicit strides == pool_size."""
    p = int(rng.integers(2, 5))
    ragged = (p * int(rng.integers(2, 5)) + int(rng.integers(1, p)), p * int(rng.integers(2, 5)) + int(rng.integers(0, p)))
    cases = [(random_image(rng, ragged, family), p, None)]
    p = int(rng.integers(1, 5))
    s = int(rng.choice([v for v in range(1, 5) if v != p]))
    shape = (p + int(rng.integers(0, 10)), p + int(rng.integers(0, 10)), int(rng.integers(1, 5)))
    cases.append((random_image(rng, shape, family), p, s))
    p = int(rng.integers(2, 5))
    shape = (p + int(rng.integers(0, 2 * p + 3)), p + int(rng.integers(0, 2 * p + 3)), int(rng.integers(1, 5)))
    cases.append((random_image(rng, shape, family), p, p))
    return cases


@pytest.mark.parametrize("mode", sorted(GOLDEN_POOL_OUTPUT))
def test_pool2d_golden(student, mode):
    checked = f"pool2d(golden 4x4 example, pool_size=2, mode={mode!r})"
    got = value_of(student.call("q1", "pool2d", GOLDEN_POOL_INPUT, pool_size=2, mode=mode), checked)
    expect_close(got, GOLDEN_POOL_OUTPUT[mode], checked, rtol=0, atol=1e-9,
                 diagnose=lambda got: mistakes_q1.diagnose_pool2d(got, GOLDEN_POOL_INPUT, 2, None, mode))


@pytest.mark.parametrize("kind", KINDS)
def test_conv_params(student, rng, kind):
    configs = [(3, 3, 32)]  # Q3's first conv: 3x3 kernel, RGB input, 32 filters
    configs += [(int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.integers(1, 17))) for _ in range(4)]
    for kernel_size, in_channels, filters in configs:
        checked = f"conv_params({kind!r}, kernel_size={kernel_size}, in_channels={in_channels}, filters={filters})"
        got = value_of(student.call("q1", "conv_params", kind, kernel_size, in_channels, filters), checked)
        expect_equal(got, keras_conv_params(kind, kernel_size, in_channels, filters), checked,
                     diagnose=lambda got: mistakes_q1.diagnose_conv_params(got, kind, kernel_size, in_channels, filters))


@pytest.mark.parametrize("kind", KINDS)
def test_conv_input_rank(student, kind):
    checked = f"conv_input_rank({kind!r})"
    got = value_of(student.call("q1", "conv_input_rank", kind), checked)
    expect_equal(got, keras_sample_rank(kind), checked, diagnose=lambda got: mistakes_q1.diagnose_conv_input_rank(got, kind))


def _expect_receptive_field(student, n_layers, kernel_size=None):
    if kernel_size is None:
        checked, args, kernel_size = f"stacked_receptive_field({n_layers}) (default kernel_size=3)", (n_layers,), 3
    else:
        checked, args = f"stacked_receptive_field({n_layers}, kernel_size={kernel_size})", (n_layers, kernel_size)
    got = value_of(student.call("q1", "stacked_receptive_field", *args), checked)
    expect_equal(got, receptive_field_by_stacking(n_layers, kernel_size), checked,
                 diagnose=lambda got: mistakes_q1.diagnose_receptive_field(got, n_layers, kernel_size))


def test_stacked_receptive_field_golden(student):
    _expect_receptive_field(student, 2)
    _expect_receptive_field(student, 3, 3)


def test_stacked_receptive_field(student, rng):
    for _ in range(5):
        _expect_receptive_field(student, int(rng.integers(1, 7)), int(rng.integers(1, 8)))


@pytest.mark.parametrize("family", DTYPE_FAMILIES)
@pytest.mark.parametrize("mode", MODES)
def test_pool2d(student, rng, mode, family):
    for x, pool_size, strides in random_pool_cases(rng, family):
        checked = f"pool2d({describe(x)}, pool_size={pool_size}, strides={strides}, mode={mode!r})"
        got = value_of(student.call("q1", "pool2d", x, pool_size=pool_size, strides=strides, mode=mode), checked)
        expect_close(got, conv.pool2d(x, pool_size, strides, mode), checked, rtol=POOL_RTOL, atol=POOL_ATOL,
                     diagnose=lambda got: mistakes_q1.diagnose_pool2d(got, x, pool_size, strides, mode))
        if not np.issubdtype(got.dtype, np.floating):
            fail(checked, "a float array", f"dtype {got.dtype}", mistakes_q1.POOL_INTEGER_DTYPE())


@pytest.mark.parametrize("mode", MODES)
def test_global_pool(student, rng, mode):
    inputs = [random_image(rng, (int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 5))), family) for family in DTYPE_FAMILIES]
    inputs.append(random_image(rng, (int(rng.integers(2, 9)), int(rng.integers(2, 9))), "int"))
    for x in inputs:
        checked = f"global_pool({describe(x)}, mode={mode!r})"
        got = value_of(student.call("q1", "global_pool", x, mode=mode), checked)
        if x.ndim == 2 and isinstance(got, (int, float, np.generic)):
            got = np.asarray(got)  # a NumPy or Python scalar is a fine 0-d answer
        expect_close(got, conv.global_pool(x, mode), checked, rtol=POOL_RTOL, atol=POOL_ATOL,
                     diagnose=lambda got: mistakes_q1.diagnose_global_pool(got, x, mode))


_SMALL = np.arange(16, dtype=np.uint8).reshape(4, 4)
_TALL_NARROW = np.zeros((6, 3, 2))
# Every call is invalid for exactly one reason the contract lists ("Conventions for every
# function"); the ids are the rubric's cases (and the corpus's expectations name them).
INVALID_CALLS = {
    "unknown-kind": [
        InvalidCall("conv_params", ("conv4d", 3, 1, 1), {}, "unknown kind", ("kind",)),
        InvalidCall("conv_input_rank", ("dense",), {}, "unknown kind", ("kind",)),
    ],
    "unknown-mode": [
        InvalidCall("pool2d", (_SMALL,), {"mode": "median"}, "unknown mode", ("mode",)),
        InvalidCall("global_pool", (_SMALL,), {"mode": "sum"}, "unknown mode", ("mode",)),
    ],
    "non-positive-size": [
        InvalidCall("conv_params", ("conv2d", 0, 3, 8), {}, "kernel_size below 1", ("kernel_size",)),
        InvalidCall("conv_params", ("conv2d", 3, 0, 8), {}, "in_channels below 1", ("in_channels",)),
        InvalidCall("conv_params", ("conv1d", 3, 2, 0), {}, "filters below 1", ("filters",)),
        InvalidCall("stacked_receptive_field", (0,), {}, "n_layers below 1", ("n_layers",)),
        InvalidCall("stacked_receptive_field", (2,), {"kernel_size": 0}, "kernel_size below 1", ("kernel_size",)),
        InvalidCall("pool2d", (_SMALL,), {"pool_size": 0}, "pool_size below 1", ("pool_size",)),
        InvalidCall("pool2d", (_SMALL,), {"pool_size": 2, "strides": -1}, "strides below 1", ("strides",)),
    ],
    "window-too-large": [
        InvalidCall("pool2d", (_SMALL,), {"pool_size": 5}, "window larger than the 4x4 input", ("pool_size", "input")),
        InvalidCall("pool2d", (_TALL_NARROW,), {"pool_size": 4}, "window wider than the 6x3 input", ("pool_size", "input")),
    ],
}


@pytest.mark.parametrize("case", list(INVALID_CALLS))
def test_invalid_arguments(student, case):
    expect_value_errors(student, "q1", INVALID_CALLS[case], f"invalid arguments ({case})")
