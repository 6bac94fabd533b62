"""Q3's contract as data (search space, architecture) and the named mistakes against it.

The checks judge the architecture by behaviour (`graders.questions.q3.oracle`); the rules here name
the likely mistake (a catalogue Finding) from the layer configs the worker reports, and the
dropout rule, which no output can show, is one of them. `expected_keras_layers` is Keras's
own count of the contract's layers, independent of the reference solution, for the project's tests.
"""
import functools
import math
from pathlib import Path

import numpy as np

from graders.judge.mistakes import Catalogue
from graders.oracles.keras_scope import without_weights

CATALOGUE = Catalogue.load(Path(__file__).with_name("mistakes.yaml"), "q3")


def __getattr__(name):
    """The catalogue's entries as this module's names too (`mistakes.SATURATION`)."""
    return getattr(CATALOGUE, name)

SEARCH_SPACE = {
    "conv_layers": {"class_name": "Int", "min_value": 1, "max_value": 3, "step": 1},
    "filters": {"class_name": "Int", "min_value": 8, "max_value": 32, "step": 8},
    "dense_layers": {"class_name": "Int", "min_value": 1, "max_value": 4, "step": 1},
    "units": {"class_name": "Int", "min_value": 128, "max_value": 256, "step": 64},
    "lr": {"class_name": "Choice", "values": [0.0001, 0.0005, 0.001], "default": 0.0001},
    "optimizer": {"class_name": "Choice", "values": ["adam", "sgd"]},
}
GOLDEN_HPS = {"conv_layers": 2, "filters": 16, "dense_layers": 3, "units": 192, "lr": 0.001, "optimizer": "adam"}
GOLDEN_PARAMS = 928_234
GOLDEN_LAYER_PARAMS = [896, 9_248, 18_496, 36_928, 786_624, 37_056, 37_056, 1_930]
OPTIMIZER_CLASSES = {"adam": "Adam", "sgd": "SGD"}


def contract_hyperparameters():
    """The contract's space registered on keras-tuner's own HyperParameters."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for name, spec in SEARCH_SPACE.items():
        if spec["class_name"] == "Int":
            hp.Int(name, spec["min_value"], spec["max_value"], step=spec["step"])
        else:
            hp.Choice(name, spec["values"], default=spec.get("default"))
    return hp


@functools.lru_cache(maxsize=1)
def keras_tuner_space():
    """{name: config} of the contract's space, as keras-tuner writes it."""
    return space_by_name(contract_hyperparameters().get_config()["space"])


def space_by_name(space_config):
    return {entry["config"]["name"]: {"class_name": entry["class_name"], **entry["config"]} for entry in space_config}


def space_entry_difference(name, got):
    """None when `got` (a registered hyperparameter's config) matches the contract, else what differs."""
    expected = keras_tuner_space()[name]
    if got is None:
        return CATALOGUE.SPACE_ENTRY_MISSING(name=name)
    keys = ["class_name", *SEARCH_SPACE[name].keys() - {"class_name"}]
    wrong = [key for key in sorted(keys) if got.get(key) != expected.get(key)]
    if not wrong:
        return None
    shown = lambda config: ", ".join(f"{key}={config.get(key)!r}" for key in keys if key in config or key == "class_name")
    return CATALOGUE.SPACE_ENTRY_WRONG(name=name, fields="/".join(wrong), expected=shown(expected), got=shown(got))


def in_space(name, value):
    """Whether `value` is a point of the contract's entry `name`; NumPy numbers count as numbers."""
    spec = SEARCH_SPACE[name]
    if spec["class_name"] == "Choice":
        if isinstance(spec["values"][0], str):
            return isinstance(value, str) and value in spec["values"]
        # A float32 search result is the choice to float32 precision, not exactly.
        return isinstance(value, (float, np.floating)) and any(math.isclose(value, choice, rel_tol=1e-6) for choice in spec["values"])
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return bool(spec["min_value"] <= value <= spec["max_value"] and (value - spec["min_value"]) % spec["step"] == 0)


def random_point(rng):
    point = {}
    for name, spec in SEARCH_SPACE.items():
        if spec["class_name"] == "Int":
            choices = list(range(spec["min_value"], spec["max_value"] + 1, spec["step"]))
        else:
            choices = spec["values"]
        point[name] = choices[int(rng.integers(len(choices)))]
    return point


def expected_layer_kinds(values):
    kinds = []
    for _ in range(values["conv_layers"]):
        kinds += ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout"]
    kinds.append("Flatten")
    kinds += ["Dense", "Dropout"] * values["dense_layers"]
    return kinds + ["Dense"]


def expected_keras_layers(values):
    """[(class_name, output_shape, params)] of the contract model, counted by Keras itself."""
    import keras

    layers = []
    for block in range(values["conv_layers"]):
        width = values["filters"] * 2 ** (block + 1)
        layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu") for _ in range(2)]
        layers += [keras.layers.MaxPooling2D(2, strides=2), keras.layers.Dropout(0.2)]
    layers.append(keras.layers.Flatten())
    for _ in range(values["dense_layers"]):
        layers += [keras.layers.Dense(values["units"], activation="relu"), keras.layers.Dropout(0.5)]
    layers.append(keras.layers.Dense(10, activation="softmax"))
    with without_weights():  # four times faster than a real build and clear_session()
        model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
        return [(type(layer).__name__, list(layer.output.shape[1:]), int(layer.count_params())) for layer in model.layers]


def _split_at(kinds):
    """Where the dense part starts: the Flatten, else the first Dense (a model that reshapes itself)."""
    for kind in ("Flatten", "Dense"):
        if kind in kinds:
            return kinds.index(kind)
    return len(kinds)


def dropout_mistake(values, layers):
    """Name what is wrong with the Dropout layers in `layers` (class names and configs, in call order), or None.

    Dropout is the identity at inference, so the outputs cannot show it: this rule reads the
    layers the model called.
    """
    kinds = [layer["class_name"] for layer in layers]
    split = _split_at(kinds)
    block_dropouts = [layer["config"].get("rate") for layer in layers[:split] if layer["class_name"] == "Dropout"]
    dense_dropouts = [layer["config"].get("rate") for layer in layers[split:] if layer["class_name"] == "Dropout"]
    if len(block_dropouts) != values["conv_layers"] or len(dense_dropouts) != values["dense_layers"]:
        return CATALOGUE.MISSING_DROPOUT()
    if not all(isinstance(rate, (int, float)) and not isinstance(rate, bool) for rate in block_dropouts + dense_dropouts):
        return CATALOGUE.DROPOUT_NOT_NUMBERS(rates=block_dropouts + dense_dropouts)
    if any(later <= earlier for earlier, later in zip(block_dropouts, block_dropouts[1:])):
        return CATALOGUE.DROPOUT_NOT_RISING(rates=block_dropouts)
    if any(rate != 0.5 for rate in dense_dropouts):
        return CATALOGUE.DENSE_DROPOUT(rates=dense_dropouts)
    return None


def architecture_mistake(values, layers):
    """Name the structural mistake in `layers` (class names and configs from the worker), or None."""
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv2D"]
    pools = [layer["config"] for layer in layers if layer["class_name"] in ("MaxPooling2D", "MaxPool2D")]
    n_blocks, filters = values["conv_layers"], values["filters"]
    widths = [conv.get("filters") for conv in convs]
    expected_widths = [filters * 2 ** (block + 1) for block in range(n_blocks) for _ in range(2)]
    if len(convs) == n_blocks:
        return CATALOGUE.ONE_CONV_PER_BLOCK()
    if len(convs) != 2 * n_blocks:
        return CATALOGUE.CONV_COUNT(count=len(convs), blocks=n_blocks)
    if widths != expected_widths:
        if len(set(map(str, widths))) == 1:
            return CATALOGUE.FILTERS_NOT_DOUBLING(width=widths[0])
        if widths == [filters * 2**block for block in range(n_blocks) for _ in range(2)]:
            return CATALOGUE.WIDTHS_START_AT_FILTERS()
        return CATALOGUE.CONV_WIDTHS(widths=widths, expected=expected_widths)
    if any(conv.get("padding") != "same" for conv in convs):
        return CATALOGUE.VALID_PADDING()
    if any(_pair(conv.get("kernel_size")) != (3, 3) for conv in convs):
        return CATALOGUE.KERNEL_SIZE()
    if any(conv.get("activation") != "relu" for conv in convs):
        return CATALOGUE.CONV_ACTIVATION()
    if len(pools) != n_blocks or any(_pair(p.get("pool_size")) != (2, 2) or _pair(p.get("strides")) != (2, 2) for p in pools):
        return CATALOGUE.POOLING()
    return dropout_mistake(values, layers)


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else ()


def output_mistake(layers):
    last = layers[-1] if layers else {}
    if last.get("class_name") != "Dense" or last.get("config", {}).get("units") != 10:
        return CATALOGUE.NO_FINAL_DENSE()
    if last["config"].get("activation") != "softmax":
        return CATALOGUE.FINAL_ACTIVATION(activation=last["config"].get("activation"))
    return None
