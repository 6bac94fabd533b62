"""Q4 checks: the shape and parameter formulas and the layer table, against real Keras layers."""
import functools
import math

import numpy as np
import pytest

from graders.judge.verdict import InvalidCall, expect_equal, expect_value_errors, fail, value_of
from graders.oracles.keras_scope import without_weights
from graders.questions.q4 import mistakes as mistakes_q4

KERAS_TO_CONTRACT_NAME = {"InputLayer": "Input", "MaxPooling2D": "MaxPool2D"}
GOLDEN_TOTAL = 11070


def _padded(input_shape, padding):
    import keras

    return keras.layers.ZeroPadding2D(padding).compute_output_shape((None, *input_shape))


@functools.lru_cache(maxsize=None)
def keras_conv2d(input_shape, filters, kernel_size, strides=1, padding=0):
    """(output shape, count_params()) of ZeroPadding2D(padding) + Conv2D(filters, kernel_size, strides)."""
    import keras

    padded = _padded(input_shape, padding)
    with without_weights():
        layer = keras.layers.Conv2D(filters, kernel_size, strides=strides)
        layer.build(padded)
        return tuple(layer.compute_output_shape(padded)[1:]), layer.count_params()


@functools.lru_cache(maxsize=None)
def keras_pool2d_shape(input_shape, pool_size, strides=None):
    import keras

    return tuple(keras.layers.MaxPooling2D(pool_size, strides=strides).compute_output_shape((None, *input_shape))[1:])


@functools.lru_cache(maxsize=None)
def keras_locally_connected2d_params(input_shape, filters, kernel_size, strides=1, padding=0):
    from graders.oracles.layers import LocallyConnected2D

    with without_weights():
        layer = LocallyConnected2D(filters, kernel_size, strides=strides)
        layer.build(_padded(input_shape, padding))
        return layer.count_params()


@functools.lru_cache(maxsize=None)
def keras_dense_params(in_units, units):
    import keras

    with without_weights():
        layer = keras.layers.Dense(units)
        layer.build((None, in_units))
        return layer.count_params()


@functools.lru_cache(maxsize=None)
def keras_golden_table():
    """The model.summary() data of the golden architecture: per layer its name, output shape and params."""
    import keras

    from graders.oracles.layers import LocallyConnected2D

    inputs = keras.Input(mistakes_q4.GOLDEN_INPUT)
    layers = [
        keras.layers.Conv2D(20, 7),
        keras.layers.MaxPooling2D(2, strides=2),
        keras.layers.Conv2D(10, 5),
        LocallyConnected2D(2, 3),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ]
    outputs = inputs
    with without_weights():
        for layer in layers:
            outputs = layer(outputs)
        model = keras.Model(inputs, outputs)
        rows = [{"layer": "Input", "output_shape": tuple(inputs.shape[1:]), "params": 0}]
        for layer in model.layers[1:]:
            name = type(layer).__name__
            rows.append({"layer": KERAS_TO_CONTRACT_NAME.get(name, name), "output_shape": tuple(layer.output.shape[1:]), "params": layer.count_params()})
    for row in rows:
        row["out_size"] = math.prod(row["output_shape"])
    return tuple(rows), model.count_params()


def _call_text(function, *args, **kwargs):
    return f"{function}({', '.join([repr(arg) for arg in args] + [f'{key}={value!r}' for key, value in kwargs.items()])})"


def _expect_formula(student, expected, function, *args, **kwargs):
    checked = _call_text(function, *args, **kwargs)
    got = value_of(student.call("q4", function, *args, **kwargs), checked)
    expect_equal(got, expected, checked, diagnose=lambda got: mistakes_q4.diagnose_call(got, function, *args, **kwargs))


def _draw(rng, low, high):
    return int(rng.integers(low, high + 1))


def _ragged_length(rng, window, stride):
    """A length whose (length - window) is not a multiple of the stride when the stride allows it."""
    remainder = _draw(rng, 1, stride - 1) if stride > 1 else 0
    return window + stride * _draw(rng, 1, 4) + remainder


def random_conv_configs(rng, strides, paddings):
    """(input_shape, filters, kernel_size, strides, padding) with strides and padding in the given
    (low, high) ranges; the first config has a ragged edge (the stride does not divide it)."""
    configs = []
    for index in range(4):
        k, s, p = _draw(rng, 1, 5), _draw(rng, *strides), _draw(rng, *paddings)
        if index == 0:
            h, w = _ragged_length(rng, k, s) - 2 * p, _ragged_length(rng, k, s) - 2 * p
        else:
            h, w = _draw(rng, k, k + 12), _draw(rng, k, k + 12)
        h, w = max(h, max(1, k - 2 * p)), max(w, max(1, k - 2 * p))
        configs.append(((h, w, _draw(rng, 1, 4)), _draw(rng, 1, 16), k, s, p))
    return configs


GOLDEN_CONVS = [((28, 28, 1), 20, 7), ((11, 11, 20), 10, 5)]


@pytest.mark.parametrize("case", ["golden", "random-strides", "random-padding"])
def test_conv2d_output_shape(student, rng, case):
    if case == "golden":
        configs = [(shape, f, k, 1, 0) for shape, f, k in GOLDEN_CONVS]
    else:
        configs = random_conv_configs(rng, strides=(2, 3), paddings=(0, 0)) if case == "random-strides" else random_conv_configs(rng, strides=(1, 3), paddings=(1, 3))
    for shape, f, k, s, p in configs:
        expected = keras_conv2d(shape, f, k, s, p)[0]
        _expect_formula(student, expected, "conv2d_output_shape", shape, f, k, strides=s, padding=p)


@pytest.mark.parametrize("case", ["golden", "random-default-strides", "random-explicit-strides"])
def test_pool2d_output_shape(student, rng, case):
    if case == "golden":
        _expect_formula(student, keras_pool2d_shape((22, 22, 20), 2, 2), "pool2d_output_shape", (22, 22, 20), 2, strides=2)
        _expect_formula(student, keras_pool2d_shape((22, 22, 20), 2), "pool2d_output_shape", (22, 22, 20), 2)
        return
    for _ in range(4):
        p = _draw(rng, 2 if case == "random-default-strides" else 1, 4)
        s = p if case == "random-default-strides" else _draw(rng, 1, 4)
        shape = (_ragged_length(rng, p, s), _ragged_length(rng, p, s), _draw(rng, 1, 8))
        if case == "random-default-strides":
            _expect_formula(student, keras_pool2d_shape(shape, p), "pool2d_output_shape", shape, p)
        else:
            _expect_formula(student, keras_pool2d_shape(shape, p, s), "pool2d_output_shape", shape, p, strides=s)


@pytest.mark.parametrize("case", ["golden", "random"])
def test_conv2d_params(student, rng, case):
    configs = GOLDEN_CONVS if case == "golden" else []
    for _ in range(4 if case == "random" else 0):
        k = _draw(rng, 1, 7)
        configs.append(((_draw(rng, k, k + 10), _draw(rng, k, k + 10), _draw(rng, 2, 8)), _draw(rng, 1, 32), k))
    for shape, f, k in configs:
        _expect_formula(student, keras_conv2d(shape, f, k)[1], "conv2d_params", shape, f, k)


@pytest.mark.parametrize("case", ["golden", "random-valid", "random-strides-padding"])
def test_locally_connected2d_params(student, rng, case):
    if case == "golden":
        _expect_formula(student, keras_locally_connected2d_params((7, 7, 10), 2, 3), "locally_connected2d_params", (7, 7, 10), 2, 3)
        return
    configs = random_conv_configs(rng, strides=(1, 1), paddings=(0, 0)) if case == "random-valid" else random_conv_configs(rng, strides=(1, 3), paddings=(1, 2))
    for shape, f, k, s, p in configs:
        expected = keras_locally_connected2d_params(shape, f, k, s, p)
        if case == "random-valid":
            _expect_formula(student, expected, "locally_connected2d_params", shape, f, k)
        else:
            _expect_formula(student, expected, "locally_connected2d_params", shape, f, k, strides=s, padding=p)


@pytest.mark.parametrize("case", ["golden", "random"])
def test_dense_params(student, rng, case):
    configs = [(50, 10)] if case == "golden" else [(_draw(rng, 1, 4096), _draw(rng, 1, 512)) for _ in range(4)]
    for in_units, units in configs:
        _expect_formula(student, keras_dense_params(in_units, units), "dense_params", in_units, units)


# Every call is invalid for exactly one reason the contract lists ("Conventions for every
# function"); the ids are the rubric's cases (and the corpus's expectations name them).
_WINDOW = ("kernel_size", "input")
INVALID_CALLS = {
    "kernel-larger-than-padded-input": [
        InvalidCall("conv2d_output_shape", ((5, 5, 3), 4, 8), {"padding": 1}, "kernel 8 larger than the padded input 7", _WINDOW),
        InvalidCall("conv2d_output_shape", ((9, 4, 3), 4, 5), {}, "kernel 5 wider than the input 4", _WINDOW),
        InvalidCall("locally_connected2d_params", ((4, 4, 2), 2, 5), {}, "kernel 5 larger than the input 4", _WINDOW),
        InvalidCall("locally_connected2d_params", ((4, 6, 2), 2, 7), {"padding": 1}, "kernel 7 taller than the padded input 6", _WINDOW),
    ],
    "pool-larger-than-input": [
        InvalidCall("pool2d_output_shape", ((3, 3, 2), 4), {}, "window 4 larger than the input 3", ("pool_size", "input")),
        InvalidCall("pool2d_output_shape", ((6, 3, 1), 4), {"strides": 1}, "window 4 wider than the input 3", ("pool_size", "input")),
    ],
    "non-positive-size": [
        InvalidCall("conv2d_output_shape", ((8, 8, 3), 4, 3), {"strides": 0}, "strides below 1", ("strides",)),
        InvalidCall("conv2d_output_shape", ((8, 8, 3), 0, 3), {}, "filters below 1", ("filters",)),
        InvalidCall("conv2d_params", ((8, 8, 3), 4, 0), {}, "kernel_size below 1", ("kernel_size",)),
        InvalidCall("conv2d_params", ((8, 8, 3), 0, 3), {}, "filters below 1", ("filters",)),
        InvalidCall("locally_connected2d_params", ((8, 8, 3), 4, 3), {"strides": 0}, "strides below 1", ("strides",)),
        InvalidCall("pool2d_output_shape", ((8, 8, 1), 0), {}, "pool_size below 1", ("pool_size",)),
        InvalidCall("pool2d_output_shape", ((8, 8, 1), 2), {"strides": 0}, "strides below 1", ("strides",)),
        InvalidCall("dense_params", (10, 0), {}, "units below 1", ("units",)),
        InvalidCall("dense_params", (0, 10), {}, "in_units below 1", ("in_units",)),
    ],
    "negative-padding": [
        InvalidCall("conv2d_output_shape", ((8, 8, 3), 4, 3), {"padding": -1}, "padding below 0", ("padding",)),
        InvalidCall("locally_connected2d_params", ((8, 8, 3), 2, 3), {"strides": 2, "padding": -1}, "padding below 0", ("padding",)),
    ],
}


@pytest.mark.parametrize("case", list(INVALID_CALLS))
def test_invalid_arguments(student, case):
    expect_value_errors(student, "q4", INVALID_CALLS[case], f"invalid arguments ({case})")


def _student_table(student):
    checked = "layer_table()"
    rows = value_of(student.call("q4", "layer_table"), checked)
    expected_rows, _ = keras_golden_table()
    if not isinstance(rows, (list, tuple)) or not all(isinstance(row, dict) for row in rows):
        fail(checked, f"a list of {len(expected_rows)} dicts", repr(rows), mistakes_q4.TABLE_NOT_LIST())
    if len(rows) != len(expected_rows):
        fail(checked, f"{len(expected_rows)} rows", f"{len(rows)} rows", mistakes_q4.TABLE_ROW_COUNT())
    return rows


@pytest.mark.parametrize("index", range(7), ids=[f"row{i + 1}-{name}" for i, name in enumerate(
    ["Input", "Conv2D", "MaxPool2D", "Conv2D", "LocallyConnected2D", "Flatten", "Dense"])])
def test_layer_table(student, index):
    row = _student_table(student)[index]
    if isinstance(row.get("output_shape"), list):
        row = {**row, "output_shape": tuple(row["output_shape"])}  # the contract allows a list
    expected = keras_golden_table()[0][index]
    for key in mistakes_q4.TABLE_KEYS:
        checked = f"layer_table() row {index + 1} ({expected['layer']}), key {key!r}"
        if key not in row:
            fail(checked, repr(expected[key]), f"no key {key!r} (keys: {sorted(row)})", mistakes_q4.ROW_KEY_MISSING(keys=", ".join(mistakes_q4.TABLE_KEYS)))
        expect_equal(row[key], expected[key], checked, diagnose=lambda got: mistakes_q4.diagnose_row(row, index, key))


def test_table_total(student):
    rows = _student_table(student)
    expected_rows, total = keras_golden_table()
    checked = "sum of the params column of layer_table()"
    assert total == GOLDEN_TOTAL, f"oracle broken: the golden Keras model has {total} parameters, not {GOLDEN_TOTAL}"
    params = [row.get("params") for row in rows]
    if not all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in params):
        fail(checked, "an int in every row", repr(params), mistakes_q4.PARAMS_NOT_INT())
    expect_equal(int(sum(params)), total, checked, diagnose=lambda got: mistakes_q4.diagnose_rows(rows, expected_rows, "params"))
