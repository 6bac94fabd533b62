"""The reference solutions reproduce every golden figure of the contract and agree with Keras."""
import keras
import keras_tuner
import numpy as np
import pytest

from graders.questions.q3 import mistakes as mistakes_q3
from graders.questions.q3.judge import count_trials
from solutions import q1, q2, q3, q4
from graders.oracles.layers import LocallyConnected2D

POOL_INPUT = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]])
PATCH = np.array([[131, 162, 232], [104, 93, 139], [243, 26, 252]], dtype=np.uint8)
GOLDEN_TABLE = [
    ("Input", (28, 28, 1), 784, 0),
    ("Conv2D", (22, 22, 20), 9680, 1000),
    ("MaxPool2D", (11, 11, 20), 2420, 0),
    ("Conv2D", (7, 7, 10), 490, 5010),
    ("LocallyConnected2D", (5, 5, 2), 50, 4550),
    ("Flatten", (50,), 50, 0),
    ("Dense", (10,), 10, 510),
]


@pytest.mark.parametrize(
    "mode, expected",
    [("max", [[9, 7], [8, 6]]), ("avg", [[4.25, 4.25], [4.25, 3.5]]), ("min", [[2, 1], [1, 2]])],
)
def test_pooling_golden_example(mode, expected):
    np.testing.assert_allclose(q1.pool2d(POOL_INPUT, 2, 2, mode), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("filter_function", [q2.filter_keras, q2.filter_cv2], ids=["keras", "cv2"])
@pytest.mark.parametrize("name, centre", [("blur", 1382 / 9), ("laplacian", 59), ("sobel_y", -140), ("sobel_x", 180)])
def test_patch_centres(filter_function, name, centre):
    output = filter_function(PATCH, q2.kernel(name))
    assert output.dtype.kind == "f"
    np.testing.assert_allclose(output[1, 1], centre, rtol=1e-6, atol=0)


@pytest.mark.parametrize("index", range(len(GOLDEN_TABLE)), ids=[row[0] + str(i) for i, row in enumerate(GOLDEN_TABLE)])
def test_layer_table_rows(index):
    row = q4.layer_table()[index]
    assert (row["layer"], row["output_shape"], row["out_size"], row["params"]) == GOLDEN_TABLE[index]


def test_layer_table_total_and_keras_summary():
    assert sum(row["params"] for row in q4.layer_table()) == 11_070
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(20, 7),
            keras.layers.MaxPooling2D(2, 2),
            keras.layers.Conv2D(10, 5),
            LocallyConnected2D(2, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    summary = [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]
    assert summary == [(shape, params) for _, shape, _, params in GOLDEN_TABLE[1:]]
    assert model.count_params() == 11_070


def _model_at(values):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return q3.build_model(hp)


def test_best_hps_model_has_the_golden_parameter_counts():
    model = _model_at(q3.BEST_HPS)
    assert q3.BEST_HPS == mistakes_q3.GOLDEN_HPS
    assert model.count_params() == 928_234
    assert [layer.count_params() for layer in model.layers if layer.count_params()] == mistakes_q3.GOLDEN_LAYER_PARAMS


def test_hyperband_runs_30_trials_counted_by_keras_tuner(tmp_path):
    tuner = q3.make_tuner(str(tmp_path), max_epochs=10, seed=0)
    assert isinstance(tuner, keras_tuner.Hyperband)
    assert (tuner.oracle.max_epochs, tuner.oracle.factor, tuner.oracle.objective.name) == (10, 3, "val_accuracy")
    assert len(count_trials(tuner.oracle)) == 30


@pytest.mark.parametrize("point", range(6))
def test_build_model_architecture_at_random_points(point):
    values = mistakes_q3.random_point(np.random.default_rng(point))
    model = _model_at(values)
    layers = [
        {"class_name": type(layer).__name__, "config": layer.get_config(), "output_shape": None, "params": 0}
        for layer in model.layers
    ]
    for layer in layers:
        layer["config"]["kernel_size"] = layer["config"].get("kernel_size")
    assert mistakes_q3.architecture_mistake(values, layers) is None
    assert mistakes_q3.output_mistake(layers) is None
    got = [(type(layer).__name__, list(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]
    assert got == mistakes_q3.expected_keras_layers(values)
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates[values["conv_layers"] :] == [0.5] * values["dense_layers"]
    assert type(model.optimizer).__name__ == mistakes_q3.OPTIMIZER_CLASSES[values["optimizer"]]
    np.testing.assert_allclose(float(model.optimizer.learning_rate), values["lr"], rtol=1e-6, atol=0)
    assert model.loss == "sparse_categorical_crossentropy"
    keras.backend.clear_session()


def _random_config(rng):
    h, w = (int(n) for n in rng.integers(5, 30, size=2))
    c = int(rng.integers(1, 5))
    kernel = int(rng.integers(1, min(h, w) + 1))
    return (h, w, c), int(rng.integers(1, 6)), kernel, int(rng.integers(1, 4))


@pytest.mark.parametrize("seed", range(10))
def test_q4_formulas_against_keras_layers(seed):
    rng = np.random.default_rng(seed)
    shape, filters, kernel, strides = _random_config(rng)
    padding = int(rng.integers(0, 3))
    inputs = keras.Input(shape)
    conv = keras.layers.Conv2D(filters, kernel, strides=strides)
    conv_out = conv(keras.layers.ZeroPadding2D(padding)(inputs))
    assert q4.conv2d_output_shape(shape, filters, kernel, strides, padding) == tuple(conv_out.shape[1:])
    assert q4.conv2d_params(shape, filters, kernel) == conv.count_params()
    pool = kernel if kernel <= min(shape[:2]) else 1
    assert q4.pool2d_output_shape(shape, pool, strides) == tuple(keras.layers.MaxPooling2D(pool, strides)(inputs).shape[1:])
    local = LocallyConnected2D(filters, kernel, strides=strides)
    local_out = local(keras.layers.ZeroPadding2D(padding)(inputs))
    assert q4.conv2d_output_shape(shape, filters, kernel, strides, padding) == tuple(local_out.shape[1:])
    assert q4.locally_connected2d_params(shape, filters, kernel, strides, padding) == local.count_params()
    units = int(rng.integers(1, 50))
    dense = keras.layers.Dense(units)
    dense.build((None, shape[0]))
    assert q4.dense_params(shape[0], units) == dense.count_params()


@pytest.mark.parametrize(
    "call",
    [
        lambda: q1.conv_params("conv4d", 3, 1, 1),
        lambda: q1.pool2d(POOL_INPUT, 5),
        lambda: q1.pool2d(POOL_INPUT, 2, mode="median"),
        lambda: q1.global_pool(POOL_INPUT, mode="sum"),
        lambda: q1.stacked_receptive_field(0),
        lambda: q2.kernel("sharpen"),
        lambda: q4.conv2d_output_shape((5, 5, 1), 2, 7),
        lambda: q4.pool2d_output_shape((4, 4, 1), 2, 0),
        lambda: q4.dense_params(0, 3),
    ],
    ids=["kind", "pool-too-large", "mode", "global-mode", "layers", "kernel-name", "kernel-too-large", "stride", "units"],
)
def test_invalid_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
