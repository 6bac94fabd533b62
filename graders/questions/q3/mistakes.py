"""Q3's contract as data (search space, architecture) and the named mistakes against it.

The checks judge the architecture by behaviour (`graders.questions.q3.oracle`); the rules here name
the likely mistake (a catalogue Finding) from the layer configs the worker reports, and the
dropout rule, which no output can show, is one of them. `expected_keras_layers` is Keras's
own count of the contract's layers, independent of the reference solution, for the project's tests.
"""
import functools
import math

import numpy as np

from graders.judge.mistakes import Catalogue
from graders.oracles.keras_scope import without_weights

CATALOGUE = Catalogue("q3")
add = CATALOGUE.add
SPACE_ENTRY_MISSING = add("q3.space-entry-missing", "search-space entry not registered", "{name!r} is not registered")
SPACE_ENTRY_WRONG = add("q3.space-entry-wrong", "search-space entry with the wrong type or range",
                        "search-space entry {name!r} has the wrong {fields}: expected {expected}; got {got}")
ONE_CONV_PER_BLOCK = add("q3.one-conv-per-block", "one conv per block",
                         "one conv per block: each block needs two Conv2D layers of the same width")
CONV_COUNT = add("q3.conv-count", "wrong number of Conv2D layers",
                 "{count} Conv2D layers for conv_layers={blocks}: expected two per block")
FILTERS_NOT_DOUBLING = add("q3.filters-not-doubling", "filters not doubling",
                           "filters not doubling: every conv has {width} filters; block i needs filters * 2**(i+1)")
WIDTHS_START_AT_FILTERS = add("q3.widths-start-at-filters", "conv widths start at filters",
                              "widths start at filters instead of 2 * filters: block i needs filters * 2**(i+1)")
CONV_WIDTHS = add("q3.conv-widths", "wrong conv widths", "conv widths {widths}, expected {expected} (filters * 2**(i+1) for block i)")
VALID_PADDING = add("q3.valid-padding", "padding='valid' in the convs", "padding='valid' in the convs: the contract uses padding='same'")
KERNEL_SIZE = add("q3.kernel-size", "conv kernel size not 3", "conv kernel size is not 3")
CONV_ACTIVATION = add("q3.conv-activation", "conv activation not relu", "conv activation is not relu")
POOLING = add("q3.pooling", "wrong pooling", "wrong pooling: each block ends with MaxPooling2D(2, strides=2)")
MISSING_DROPOUT = add("q3.missing-dropout", "missing dropout",
                      "missing dropout: one Dropout after each pooling and after each hidden Dense")
DROPOUT_NOT_NUMBERS = add("q3.dropout-rates-not-numbers", "dropout rates not numbers", "dropout rates {rates} are not numbers")
DROPOUT_NOT_RISING = add("q3.dropout-not-rising", "dropout rates not rising with depth", "dropout rates {rates} do not rise with depth")
DENSE_DROPOUT = add("q3.dense-dropout-rate", "dense dropout rate not 0.5",
                    "dense dropout rates {rates}: the contract uses 0.5 after each hidden Dense")
NO_FINAL_DENSE = add("q3.no-final-dense10", "model does not end with Dense(10)", "the model must end with Dense(10)")
FINAL_ACTIVATION = add("q3.final-activation", "final activation not softmax",
                       "final activation {activation!r}: sparse_categorical_crossentropy here expects softmax probabilities")
# what the checks see
OUTPUTS_ARE_LOGITS = add("q3.outputs-are-logits", "outputs are logits (no softmax)",
                         "the outputs are the logits: the final Dense(10) needs activation='softmax' (sparse_categorical_crossentropy expects probabilities)")
OUTPUTS_DIFFER = add("q3.outputs-differ", "outputs differ from the contract's model",
                     "the outputs differ from the contract's model with the same weights: layer order, activations, pooling or padding differ")
WEIGHT_SHAPES = add("q3.weight-shapes", "weights differ from the contract's model", "{difference}")
NOT_A_MODEL = add("q3.not-a-model", "build_model does not return a model", "build_model must return the model")
FROZEN_WEIGHTS = add("q3.frozen-weights", "frozen weights", "layers set trainable=False")
NOT_COMPILED = add("q3.not-compiled", "model not compiled", "model.compile(...) was not called")
LR_IGNORED = add("q3.lr-ignored", "hp 'lr' ignored by the optimizer", "the optimizer ignores hp 'lr' (or uses it under another name)")
COMPILE_SETTING = add("q3.compile-setting", "wrong compile setting", "wrong compile setting: {settings}")
BEST_HPS_NOT_DICT = add("q3.best-hps-not-dict", "BEST_HPS not a dict of the six names",
                        "BEST_HPS must be a dict with exactly the six names")
BEST_HPS_OUTSIDE = add("q3.best-hps-outside", "BEST_HPS outside the space", "BEST_HPS outside the space: {names}")
KERAS_TUNER_DISAGREES = add("q3.keras-tuner-disagrees", "installed keras-tuner disagrees with the contract",
                            "the installed keras-tuner disagrees with the contract")
TUNER_OBJECTIVE = add("q3.tuner-objective", "tuner objective not val_accuracy",
                      'objective must be "val_accuracy" (the tuner maximises validation accuracy)')
TUNER_MAX_EPOCHS = add("q3.tuner-max-epochs", "max_epochs not passed through", "max_epochs is not passed through (hard-coded?)")
TUNER_FACTOR = add("q3.tuner-factor", "Hyperband factor not 3", "factor must be 3")
NOT_HYPERBAND = add("q3.not-hyperband", "tuner not Hyperband", "the tuner must be keras_tuner.Hyperband")
TUNER_SETTINGS = add("q3.tuner-settings", "wrong tuner settings", "wrong {settings}")
TUNER_ARGUMENTS = add("q3.tuner-arguments-ignored", "make_tuner ignores an argument",
                      "make_tuner ignores one of its arguments (seed, directory, project_name)")
# training and search on CIFAR-10
DOES_NOT_LEARN = add("q3.does-not-learn", "trained model does not learn", "{cause}")
LEARNS_SLOWLY = add("q3.learns-slowly", "learns too slowly",
                    "it learns, but too slowly to reach {floor} in {epochs} epochs (dropout too strong? lr too small? SGD?)")
SEARCH_STOPPED = add("q3.search-stopped", "tuner search stopped",
                     "the search stopped (keras-tuner gives up after 3 failed trials in a row)")
TRIALS_FAILED = add("q3.trials-failed", "tuner trials failed",
                    "trials failed: build_model raises or training breaks for some hyperparameters")
SEARCH_SPACE_DIFFERS = add("q3.search-space-differs", "tuner searches another space",
                           "the tuner searches another space than the contract's")
BEST_MODEL_UNLOADABLE = add("q3.best-model-unloadable", "best model does not load",
                            "tuner.get_best_models() fails: the best trial's checkpoint does not load into build_model(its hyperparameters)")
NO_TRIAL_LEARNS = add("q3.no-trial-learns", "no trial learns",
                      "no trial learns: the models stay at chance (learning rate, softmax, loss?)")

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
        return SPACE_ENTRY_MISSING(name=name)
    keys = ["class_name", *SEARCH_SPACE[name].keys() - {"class_name"}]
    wrong = [key for key in sorted(keys) if got.get(key) != expected.get(key)]
    if not wrong:
        return None
    shown = lambda config: ", ".join(f"{key}={config.get(key)!r}" for key in keys if key in config or key == "class_name")
    return SPACE_ENTRY_WRONG(name=name, fields="/".join(wrong), expected=shown(expected), got=shown(got))


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
        return MISSING_DROPOUT()
    if not all(isinstance(rate, (int, float)) and not isinstance(rate, bool) for rate in block_dropouts + dense_dropouts):
        return DROPOUT_NOT_NUMBERS(rates=block_dropouts + dense_dropouts)
    if any(later <= earlier for earlier, later in zip(block_dropouts, block_dropouts[1:])):
        return DROPOUT_NOT_RISING(rates=block_dropouts)
    if any(rate != 0.5 for rate in dense_dropouts):
        return DENSE_DROPOUT(rates=dense_dropouts)
    return None


def architecture_mistake(values, layers):
    """Name the structural mistake in `layers` (class names and configs from the worker), or None."""
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv2D"]
    pools = [layer["config"] for layer in layers if layer["class_name"] in ("MaxPooling2D", "MaxPool2D")]
    n_blocks, filters = values["conv_layers"], values["filters"]
    widths = [conv.get("filters") for conv in convs]
    expected_widths = [filters * 2 ** (block + 1) for block in range(n_blocks) for _ in range(2)]
    if len(convs) == n_blocks:
        return ONE_CONV_PER_BLOCK()
    if len(convs) != 2 * n_blocks:
        return CONV_COUNT(count=len(convs), blocks=n_blocks)
    if widths != expected_widths:
        if len(set(map(str, widths))) == 1:
            return FILTERS_NOT_DOUBLING(width=widths[0])
        if widths == [filters * 2**block for block in range(n_blocks) for _ in range(2)]:
            return WIDTHS_START_AT_FILTERS()
        return CONV_WIDTHS(widths=widths, expected=expected_widths)
    if any(conv.get("padding") != "same" for conv in convs):
        return VALID_PADDING()
    if any(_pair(conv.get("kernel_size")) != (3, 3) for conv in convs):
        return KERNEL_SIZE()
    if any(conv.get("activation") != "relu" for conv in convs):
        return CONV_ACTIVATION()
    if len(pools) != n_blocks or any(_pair(p.get("pool_size")) != (2, 2) or _pair(p.get("strides")) != (2, 2) for p in pools):
        return POOLING()
    return dropout_mistake(values, layers)


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else ()


def output_mistake(layers):
    last = layers[-1] if layers else {}
    if last.get("class_name") != "Dense" or last.get("config", {}).get("units") != 10:
        return NO_FINAL_DENSE()
    if last["config"].get("activation") != "softmax":
        return FINAL_ACTIVATION(activation=last["config"].get("activation"))
    return None
