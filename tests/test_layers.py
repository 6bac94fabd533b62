"""LocallyConnected2D for Keras 3 against Keras 2's layer, a NumPy oracle and the Q4 golden row."""
import json

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graders.oracles.layers import (
    LocallyConnected2D,
    locally_connected2d_output_shape,
    locally_connected2d_param_count,
)
from graders.questions.q4.checks import keras_golden_table

RTOL = ATOL = 1e-5

# (input (h, w, c), filters, kernel_size, strides, use_bias, activation)
CASES = [
    ((7, 7, 10), 2, 3, 1, True, None),
    ((5, 5, 1), 1, 1, 1, True, None),
    ((6, 9, 2), 3, 2, 2, True, "relu"),
    ((9, 6, 3), 2, (2, 4), (3, 2), False, "tanh"),
    ((8, 11, 4), 1, 4, 3, True, "sigmoid"),
    ((10, 10, 3), 3, (4, 1), (1, 3), True, "tanh"),
    ((4, 7, 4), 2, (1, 3), 2, False, None),
    ((12, 5, 2), 3, 3, (2, 1), True, "relu"),
    ((6, 6, 1), 1, 4, 2, False, "sigmoid"),
]


def _case_id(case):
    shape, filters, kernel, strides, use_bias, activation = case
    return (
        f"in{'x'.join(map(str, shape))}-f{filters}-k{kernel}-s{strides}"
        f"-{'bias' if use_bias else 'nobias'}-{activation or 'linear'}"
    ).replace(" ", "")


@pytest.fixture(scope="module")
def tf_keras():
    return pytest.importorskip(
        "tf_keras", reason="tf_keras (the Keras 2 oracle, test extra) is not installed"
    )


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_session():
    # Once per module: clearing after every test would cost more than the tests themselves.
    yield
    keras.backend.clear_session()


def _inputs(shape, seed, batch=3):
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype("float32")


def _layer_kwargs(filters, kernel, strides, use_bias, activation):
    return dict(filters=filters, kernel_size=kernel, strides=strides, use_bias=use_bias, activation=activation)


def _built_layer(input_shape, **kwargs):
    layer = LocallyConnected2D(**kwargs)
    layer.build((None, *input_shape))
    return layer


def _run(layer, x):
    return keras.ops.convert_to_numpy(layer(x))


def _compare_with_keras2(tf_keras, case, seed):
    """Copy Keras 2's (randomly initialised, non-zero bias) weights into ours; outputs must agree."""
    shape, *layer_args = case
    kwargs = _layer_kwargs(*layer_args)
    x = _inputs(shape, seed)
    reference = tf_keras.layers.LocallyConnected2D(
        **kwargs, implementation=1, bias_initializer=tf_keras.initializers.RandomNormal(seed=seed)
    )
    expected = reference(x).numpy()
    layer = _built_layer(shape, **kwargs)
    assert [tuple(w.shape) for w in layer.weights] == [w.shape for w in reference.get_weights()]
    assert layer.count_params() == reference.count_params()
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(_run(layer, x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_keras2_layer(tf_keras, case):
    _compare_with_keras2(tf_keras, case, seed=sum(case[0]))


@settings(max_examples=50, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(4, 10),
    cols=st.integers(4, 10),
    channels=st.integers(1, 4),
    filters=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    use_bias=st.booleans(),
    activation=st.sampled_from([None, "relu", "tanh"]),
)
def test_matches_keras2_layer_sweep(tf_keras, rows, cols, channels, filters, kernel, strides,
                                    use_bias, activation):
    case = ((rows, cols, channels), filters, kernel, strides, use_bias, activation)
    _compare_with_keras2(tf_keras, case, seed=rows * 100 + cols)


def _local_conv_oracle(x, kernel, bias, kernel_size, strides):
    """Float64 loop over output pixels, straight from the weights-layout definition."""
    kh, kw = kernel_size
    sh, sw = strides
    rows, cols = bias.shape[:2]
    out = np.empty((x.shape[0], rows, cols, kernel.shape[-1]))
    for r in range(rows):
        for c in range(cols):
            patch = x[:, r * sh : r * sh + kh, c * sw : c * sw + kw, :].reshape(x.shape[0], -1)
            out[:, r, c] = patch.astype(np.float64) @ kernel[r * cols + c] + bias[r, c]
    return out


@pytest.mark.parametrize("case", CASES[:4], ids=_case_id)
def test_matches_numpy_oracle(case):
    shape, filters, kernel, strides, _, _ = case
    layer = _built_layer(shape, **_layer_kwargs(filters, kernel, strides, True, None))
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal(tuple(w.shape)).astype("float32") for w in layer.weights]
    layer.set_weights(weights)
    x = _inputs(shape, seed=8)
    expected = _local_conv_oracle(x, *weights, layer.kernel_size, layer.strides)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=RTOL, atol=ATOL)


def test_q4_golden_row():
    assert locally_connected2d_output_shape((7, 7, 10), filters=2, kernel_size=3) == (5, 5, 2)
    assert locally_connected2d_param_count((7, 7, 10), filters=2, kernel_size=3) == 4550
    layer = _built_layer((7, 7, 10), filters=2, kernel_size=3)
    assert layer.compute_output_shape((None, 7, 7, 10)) == (None, 5, 5, 2)
    assert layer.count_params() == 4550
    assert tuple(layer.kernel.shape) == (25, 90, 2)
    assert tuple(layer.bias.shape) == (5, 5, 2)


def test_q4_golden_model_total():
    """The whole Q4 table as the graders' Keras 3 model: 11,070 parameters, as the answer sheet's summary."""
    rows, total = keras_golden_table()
    assert [row["output_shape"] for row in rows] == [(28, 28, 1), (22, 22, 20), (11, 11, 20), (7, 7, 10), (5, 5, 2), (50,), (10,)]
    assert [row["params"] for row in rows] == [0, 1000, 0, 5010, 4550, 0, 510]
    assert total == 11070


@pytest.mark.parametrize(
    "input_shape, kernel_size, strides, expected",
    [
        ((28, 28, 1), 7, 1, (22, 22, 4)),
        ((9, 6, 3), (2, 4), (3, 2), (3, 2, 4)),
        ((8, 11, 4), 4, 3, (2, 3, 4)),
        ((5, 5, 1), 5, 2, (1, 1, 4)),
    ],
    ids=["square", "rect-kernel-rect-stride", "stride3", "kernel-equals-input"],
)
def test_output_shape_and_params_agree_with_built_layer(input_shape, kernel_size, strides, expected):
    assert locally_connected2d_output_shape(input_shape, 4, kernel_size, strides) == expected
    for use_bias in (True, False):
        layer = _built_layer(input_shape, filters=4, kernel_size=kernel_size, strides=strides, use_bias=use_bias)
        assert layer.compute_output_shape((None, *input_shape)) == (None, *expected)
        assert layer.count_params() == locally_connected2d_param_count(
            input_shape, 4, kernel_size, strides, use_bias=use_bias
        )


@pytest.mark.parametrize(
    "kwargs, argument, echoed",
    [
        (dict(padding="same"), "padding", "'same'"),
        (dict(padding="causal"), "padding", "'causal'"),
        (dict(filters=0), "filters", "filters=0"),
        (dict(filters=-2), "filters", "filters=-2"),
        (dict(filters=2.0), "filters", "filters=2.0"),
        (dict(kernel_size=0), "kernel_size", "kernel_size=0"),
        (dict(kernel_size=(3, -1)), "kernel_size", "(3, -1)"),
        (dict(kernel_size=(3, 3, 3)), "kernel_size", "(3, 3, 3)"),
        (dict(strides=(0, 1)), "strides", "(0, 1)"),
        (dict(strides=True), "strides", "strides=True"),
        (dict(data_format="channels_first"), "data_format", "'channels_first'"),
    ],
    ids=["padding-same", "padding-causal", "filters-zero", "filters-negative", "filters-float",
         "kernel-zero", "kernel-negative", "kernel-3d", "strides-zero", "strides-bool",
         "channels-first"],
)
def test_invalid_constructor_arguments(kwargs, argument, echoed):
    arguments = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=argument) as error:
        LocallyConnected2D(**arguments)
    assert echoed in str(error.value)


def test_padding_is_case_insensitive_valid():
    assert LocallyConnected2D(2, 3, padding="VALID").padding == "valid"


@pytest.mark.parametrize(
    "input_shape, kernel_size, strides, argument",
    [
        ((7, 7), 3, 1, "input_shape"),
        ((7, 0, 3), 3, 1, "input_shape"),
        ((7, 7, 3), 8, 1, "kernel_size"),
        ((7, 7, 3), (2, 8), 1, "kernel_size"),
        ((7, 7, 3), 3, 0, "strides"),
    ],
    ids=["rank2", "zero-width", "kernel-too-big", "rect-kernel-too-big", "zero-stride"],
)
def test_output_shape_function_rejects_bad_arguments(input_shape, kernel_size, strides, argument):
    with pytest.raises(ValueError, match=argument):
        locally_connected2d_output_shape(input_shape, 2, kernel_size, strides)


def test_build_rejects_kernel_larger_than_input_and_undefined_spatial_dims():
    with pytest.raises(ValueError, match="kernel_size"):
        LocallyConnected2D(2, 5).build((None, 4, 8, 3))
    with pytest.raises(ValueError, match="fully defined"):
        LocallyConnected2D(2, 3).build((None, None, 8, 3))


def _model(seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 9, 3))
    outputs = LocallyConnected2D(
        3, (3, 2), strides=(2, 1), activation="tanh", bias_initializer="random_normal", name="local"
    )(inputs)
    return keras.Model(inputs, outputs)


def test_get_config_from_config_round_trip():
    layer = _built_layer((8, 9, 3), filters=3, kernel_size=(3, 2), strides=(2, 1), activation="relu",
                         use_bias=False, kernel_regularizer="l2", name="lc")
    config = layer.get_config()
    assert config["kernel_size"] == (3, 2) and config["strides"] == (2, 1)
    clone = LocallyConnected2D.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone.build((None, 8, 9, 3))
    clone.set_weights(layer.get_weights())
    x = _inputs((8, 9, 3), seed=4)
    np.testing.assert_allclose(_run(clone, x), _run(layer, x), rtol=0, atol=0)


def test_model_json_round_trip():
    model = _model()
    restored = keras.models.model_from_json(model.to_json())
    assert isinstance(restored.get_layer("local"), LocallyConnected2D)
    restored.set_weights(model.get_weights())
    x = _inputs((8, 9, 3), seed=5)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=0)


def test_keras_file_round_trip(tmp_path):
    model = _model()
    path = tmp_path / "local.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.get_layer("local"), LocallyConnected2D)
    for saved, loaded in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(loaded, saved, rtol=0, atol=0)
    x = _inputs((8, 9, 3), seed=6)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=0)


def test_compiled_predict_matches_eager_call():
    model = _model()
    x = _inputs((8, 9, 3), seed=9)
    np.testing.assert_allclose(model.predict(x, verbose=0), _run(model, x), rtol=RTOL, atol=ATOL)


def test_regularizer_adds_a_loss():
    layer = _built_layer((6, 6, 2), filters=2, kernel_size=3, kernel_regularizer=keras.regularizers.L2(0.5))
    layer(_inputs((6, 6, 2), seed=1))
    expected = 0.5 * np.sum(layer.get_weights()[0].astype(np.float64) ** 2)
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=RTOL, atol=ATOL)


def test_training_updates_kernel_and_bias():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = _inputs((8, 9, 3), seed=10, batch=8)
    before = model.get_layer("local").get_weights()
    model.fit(x, np.ones((8, *model.output_shape[1:]), "float32"), epochs=1, batch_size=8, verbose=0)
    for old, new in zip(before, model.get_layer("local").get_weights()):
        assert np.abs(new - old).max() > 1e-4
