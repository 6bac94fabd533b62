"""Q3's contract as data (search space, architecture) and the named mistakes against it.

The checks judge the architecture by behaviour (`graders.questions.q3.oracle`); the rules here name
the likely mistake from the layer configs the worker reports, and the dropout rule, which
no output can show, is one of them. `expected_keras_layers` is Keras's own count of the
contract's layers, independent of the reference solution, for the project's tests.
"""
import functools
import math

import numpy as np

from graders.oracles.keras_scope import without_weights

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
        return f"{name!r} is not registered"
    keys = ["class_name", *SEARCH_SPACE[name].keys() - {"class_name"}]
    wrong = [key for key in sorted(keys) if got.get(key) != expected.get(key)]
    if not wrong:
        return None
    shown = lambda config: ", ".join(f"{key}={config.get(key)!r}" for key in keys if key in config or key == "class_name")
    return f"search-space entry {name!r} has the wrong {'/'.join(wrong)}: expected {shown(expected)}; got {shown(got)}"


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
        return "missing dropout: one Dropout after each pooling and after each hidden Dense"
    if not all(isinstance(rate, (int, float)) and not isinstance(rate, bool) for rate in block_dropouts + dense_dropouts):
        return f"dropout rates {block_dropouts + dense_dropouts} are not numbers"
    if any(later <= earlier for earlier, later in zip(block_dropouts, block_dropouts[1:])):
        return f"dropout rates {block_dropouts} do not rise with depth"
    if any(rate != 0.5 for rate in dense_dropouts):
        return f"dense dropout rates {dense_dropouts}: the contract uses 0.5 after each hidden Dense"
    return None


def architecture_mistake(values, layers):
    """Name the structural mistake in `layers` (class names and configs from the worker), or None."""
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv2D"]
    pools = [layer["config"] for layer in layers if layer["class_name"] in ("MaxPooling2D", "MaxPool2D")]
    n_blocks, filters = values["conv_layers"], values["filters"]
    widths = [conv.get("filters") for conv in convs]
    expected_widths = [filters * 2 ** (block + 1) for block in range(n_blocks) for _ in range(2)]
    if len(convs) == n_blocks:
        return "one conv per block: each block needs two Conv2D layers of the same width"
    if len(convs) != 2 * n_blocks:
        return f"{len(convs)} Conv2D layers for conv_layers={n_blocks}: expected two per block"
    if widths != expected_widths:
        if len(set(map(str, widths))) == 1:
            return f"filters not doubling: every conv has {widths[0]} filters; block i needs filters * 2**(i+1)"
        if widths == [filters * 2**block for block in range(n_blocks) for _ in range(2)]:
            return "widths start at filters instead of 2 * filters: block i needs filters * 2**(i+1)"
        return f"conv widths {widths}, expected {expected_widths} (filters * 2**(i+1) for block i)"
    if any(conv.get("padding") != "same" for conv in convs):
        return "padding='valid' in the convs: the contract uses padding='same'"
    if any(_pair(conv.get("kernel_size")) != (3, 3) for conv in convs):
        return "conv kernel size is not 3"
    if any(conv.get("activation") != "relu" for conv in convs):
        return "conv activation is not relu"
    if len(pools) != n_blocks or any(_pair(p.get("pool_size")) != (2, 2) or _pair(p.get("strides")) != (2, 2) for p in pools):
        return "wrong pooling: each block ends with MaxPooling2D(2, strides=2)"
    return dropout_mistake(values, layers)


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else ()


def output_mistake(layers):
    last = layers[-1] if layers else {}
    if last.get("class_name") != "Dense" or last.get("config", {}).get("units") != 10:
        return "the model must end with Dense(10)"
    if last["config"].get("activation") != "softmax":
        return f"final activation {last['config'].get('activation')!r}: sparse_categorical_crossentropy here expects softmax probabilities"
    return None
