"""The judge's Q3 pieces: the float64 NumPy model against Keras, weight matching, and reading raw answers."""
import importlib.util
import types

import keras
import numpy as np
import pytest

from graders import layout
from graders.judge import answers
from graders.questions.q3 import judge as q3_judge, mistakes as spec, oracle
from graders.worker import probes
from graders.worker.protocol import Unsupported

POINTS = [dict(spec.GOLDEN_HPS), *(spec.random_point(np.random.default_rng(seed)) for seed in range(3))]
RTOL, ATOL = 1e-4, 1e-6  # the graders' tolerances for float32 Keras probabilities
VALID_SUBCLASSED = layout.CORPUS_DIR / "valid-subclassed-model" / "q3.py"


def _contract_model(values):
    """The contract's model written with Keras layers, independently of the oracle and of solutions/."""
    layers = []
    for block in range(values["conv_layers"]):
        width = values["filters"] * 2 ** (block + 1)
        layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu") for _ in range(2)]
        layers += [keras.layers.MaxPooling2D(2, strides=2), keras.layers.Dropout(0.2 + 0.1 * block)]
    layers.append(keras.layers.Flatten())
    for _ in range(values["dense_layers"]):
        layers += [keras.layers.Dense(values["units"], activation="relu"), keras.layers.Dropout(0.5)]
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential([keras.Input(oracle.INPUT_SHAPE), *layers])


@pytest.mark.parametrize("index", range(len(POINTS)), ids=lambda index: "golden" if index == 0 else f"random-{index - 1}")
def test_numpy_forward_pass_is_keras_with_the_same_weights(index):
    values = POINTS[index]
    rng = np.random.default_rng([3, index])
    model = _contract_model(values)
    assert [tuple(weight.shape) for weight in model.weights] == oracle.weight_shapes(values)
    assert oracle.parameter_count(oracle.weight_shapes(values)) == model.count_params()
    weights, x = oracle.random_weights(values, rng), oracle.random_inputs(rng)
    model.set_weights(weights)
    expected = oracle.forward(values, weights, x)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert expected.max() < 0.99 and expected.min() > 1e-6  # not saturated: every weight moves the outputs
    model.layers[-1].activation = keras.activations.linear  # the same model without its softmax
    np.testing.assert_allclose(np.asarray(model(x, training=False)), oracle.forward(values, weights, x, logits=True), rtol=RTOL, atol=1e-5)
    keras.backend.clear_session()


def test_golden_figures_from_the_weight_shapes():
    assert oracle.parameter_count(oracle.weight_shapes(spec.GOLDEN_HPS)) == spec.GOLDEN_PARAMS == 928_234
    assert oracle.layer_parameter_counts(spec.GOLDEN_HPS) == spec.GOLDEN_LAYER_PARAMS


def test_conv_and_pool_against_loops():
    rng = np.random.default_rng(0)
    x, kernel, bias = rng.normal(size=(2, 5, 4, 3)), rng.normal(size=(3, 3, 3, 2)), rng.normal(size=2)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    looped = np.zeros((2, 5, 4, 2))
    for n, row, col, f in np.ndindex(looped.shape):
        looped[n, row, col, f] = np.sum(padded[n, row : row + 3, col : col + 3, :] * kernel[..., f]) + bias[f]
    np.testing.assert_allclose(oracle.conv3x3_same(x, kernel, bias).reshape(2, 5, 4, 2), looped, rtol=1e-12, atol=1e-12)
    image = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(oracle.maxpool2(image)[0, :, :, 0], [[5, 7], [13, 15]], rtol=0, atol=0)


# ---------------------------------------------------------------- weight matching
def test_match_weights_maps_each_weight_to_the_first_unused_of_its_shape():
    contract = [(3, 4), (4,), (4, 4), (4,), (4, 2), (2,)]
    student = [(4, 2), (2,), (3, 4), (4,), (4, 4), (4,)]  # classifier first, as a subclass may create it
    order, problem = q3_judge.match_weights(student, contract)
    assert problem is None and order == [4, 5, 0, 1, 2, 3]
    assert [contract[index] for index in order] == student


@pytest.mark.parametrize(
    "student, words",
    [
        ([(3, 4), (4,), (4, 4), (4,), (4, 2)], ["lacks: (2,)"]),
        ([(3, 4), (4,), (4, 4), (4,), (4, 2), (2,), (2,)], ["no match for: (2,)"]),
        ([(3, 5), (5,), (4, 4), (4,), (4, 2), (2,)], ["no match for: (3, 5), (5,)", "lacks: (3, 4), (4,)"]),
    ],
    ids=["missing-bias", "extra-bias", "wrong-width"],
)
def test_match_weights_names_what_does_not_match(student, words):
    order, problem = q3_judge.match_weights(student, [(3, 4), (4,), (4, 4), (4,), (4, 2), (2,)])
    assert order is None and all(word in problem for word in words)


# ---------------------------------------------------------------- reading raw answers
def _model_answer(**model):
    facts = {"classes": [["keras.src.models.sequential", "Sequential"], ["keras.src.models.model", "Model"]], "weights": [{"shape": [3, 4], "trainable": True}],
             "layers": [{"class_name": "Dense", "config": {"units": 4}}], "compiled": True,
             "compile": {"optimizer": {"classes": [["keras.src.optimizers.adam", "Adam"]], "learning_rate": 0.001}, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}
    return {"hp_config": {"space": [], "values": {}}, "model": {**facts, **model}}


def test_read_model_of_a_well_formed_answer():
    facts = q3_judge.read_model(_model_answer())
    assert facts.is_keras_model and facts.weight_shapes == [(3, 4)] and facts.trainable == [True]
    assert facts.compile == {"optimizer": "Adam", "learning_rate": 0.001, "loss": ["sparse_categorical_crossentropy"], "metrics": ["accuracy"]}
    not_a_model = q3_judge.read_model({"model": {"classes": [["builtins", "NoneType"], ["builtins", "object"]]}})
    assert not not_a_model.is_keras_model and not_a_model.type_name == "NoneType"


@pytest.mark.parametrize(
    "answer, where",
    [
        ({"space": [], "model": {"class_name": "Sequential", "params": 928_234}}, "answer['model'] lacks 'classes'"),
        (_model_answer(weights=[{"shape": [3, "4"], "trainable": True}]), "not an int"),
        (_model_answer(weights=[{"shape": [3, -4], "trainable": True}]), "below 0"),
        (_model_answer(weights=[{"shape": [3, 4], "trainable": "yes"}]), "not a bool"),
        (_model_answer(layers=[{"class_name": "Dense", "config": Unsupported("Anything", "")}]), "not plain data"),
        (_model_answer(compile={"optimizer": "adam", "loss": None, "metrics": []}), "not a dict"),
        (_model_answer(classes="Model"), "not a list"),
        (["not", "a", "dict"], "not a dict"),
    ],
    ids=["old-format", "string-size", "negative-size", "string-flag", "object-config", "optimizer-string", "classes-string", "list"],
)
def test_read_model_rejects_a_malformed_answer_saying_where(answer, where):
    value, problem = answers.read(q3_judge.read_model, answer)
    assert value is None and where in problem


def test_read_space_rebuilds_the_space_with_keras_tuner_and_rejects_other_configs():
    config = spec.contract_hyperparameters().get_config()
    assert q3_judge.read_space({"hp_config": config}) == spec.keras_tuner_space()
    forged = {"space": [{"class_name": "Sequential", "config": {"name": "x"}}], "values": {}}
    assert "not a keras-tuner hyperparameter" in answers.read(q3_judge.read_space, {"hp_config": forged})[1]
    bad = {"space": [{"class_name": "Int", "config": {"name": "x", "min_value": "one"}}], "values": {}}
    assert "not a keras-tuner config" in answers.read(q3_judge.read_space, {"hp_config": bad})[1]


def test_read_outputs_rejects_calls_outside_the_reported_layers():
    answer = {"outputs": np.zeros((2, 10)), "layers": [{"class_name": "Dense", "config": {}}], "calls": [0, 1]}
    assert "only 1 layers" in answers.read(q3_judge.read_outputs, answer)[1]
    assert q3_judge.read_outputs({**answer, "calls": [0, 0]}).calls == [{"class_name": "Dense", "config": {}}] * 2


def test_the_judge_counts_hyperband_trials_and_refuses_settings_it_cannot_simulate():
    space = spec.contract_hyperparameters().get_config()
    assert q3_judge.hyperband_trial_count(10, 3, 1, space) == (30, None)
    count, why = q3_judge.hyperband_trial_count(10, 1, 1, space)
    assert count is None and "factor=1" in why
    count, why = q3_judge.hyperband_trial_count(10, 3, float("inf"), space)
    assert count is None and "hyperband_iterations" in why



@pytest.mark.parametrize("max_epochs, factor, iterations", [(4, 3, 1), (10, 3, 2), (27, 2, 1)], ids=lambda value: str(value))
def test_the_unsaved_oracle_schedules_every_trial_as_keras_tuners_own(tmp_path, max_epochs, factor, iterations):
    import keras_tuner

    def trials(oracle_class, folder):
        oracle = oracle_class(objective=keras_tuner.Objective("val_accuracy", "max"), max_epochs=max_epochs, factor=factor,
                              hyperband_iterations=iterations, hyperparameters=spec.contract_hyperparameters(), seed=0)
        oracle._set_project_dir(str(folder), "count")
        return q3_judge.count_trials(oracle)

    unsaved = trials(q3_judge._unsaved_hyperband_oracle(), tmp_path / "unsaved")
    assert unsaved == trials(keras_tuner.oracles.HyperbandOracle, tmp_path / "stock")
    assert len(unsaved) > max_epochs // factor
    assert not (tmp_path / "unsaved").exists() or not any((tmp_path / "unsaved").rglob("trial.json"))

# ---------------------------------------------------------------- the named rules
def _calls(*kinds, rates=()):
    rates = iter(rates)
    return [{"class_name": kind, "config": {"rate": next(rates)} if kind == "Dropout" else {}} for kind in kinds]


@pytest.mark.parametrize(
    "calls, mistake",
    [
        (_calls("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense", rates=(0.2, 0.5, 0.5)), None),
        (_calls("Conv2D", "MaxPooling2D", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense", rates=(0.2, 0.5, 0.5)), None),
        (_calls("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dense", "Dense", rates=(0.2,)), "missing dropout"),
        (_calls("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense", rates=(0.2, 0.3, 0.5)), "dense dropout rates"),
        (_calls("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense", rates=("0.2", 0.5, 0.5)), "not numbers"),
    ],
    ids=["contract", "reshape-not-flatten", "no-dense-dropout", "dense-rate", "string-rate"],
)
def test_dropout_rule_reads_the_calls(calls, mistake):
    got = spec.dropout_mistake({"conv_layers": 1, "dense_layers": 2}, calls)
    assert got == mistake if mistake is None else mistake in got


def test_dropout_rates_must_rise_over_blocks():
    calls = _calls("Dropout", "Dropout", "Flatten", "Dense", "Dropout", "Dense", rates=(0.3, 0.3, 0.5))
    assert "do not rise" in spec.dropout_mistake({"conv_layers": 2, "dense_layers": 1}, calls)


@pytest.mark.parametrize("value, inside", [(np.int64(2), True), (np.float64(0.001), True), (np.float32(0.0005), True), (np.str_("sgd"), True), (2.0, False), (True, False)])
def test_best_hps_values_may_be_numpy_numbers(value, inside):
    name = {np.int64: "conv_layers", np.float64: "lr", np.float32: "lr", np.str_: "optimizer", float: "conv_layers", bool: "conv_layers"}[type(value)]
    assert spec.in_space(name, value) is inside


# ---------------------------------------------------------------- a subclassed model, in process
def test_a_subclassed_model_through_the_probes_matches_the_oracle():
    loaded = importlib.util.spec_from_file_location("hw9_valid_subclassed_q3", VALID_SUBCLASSED)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    session = types.SimpleNamespace(module=lambda name: module, settings={})
    values, layer_call = dict(spec.GOLDEN_HPS), keras.layers.Layer.__call__
    facts = q3_judge.read_model(probes.probe_build_model(session, values=values, input_shape=[1, 32, 32, 3]))
    order, problem = q3_judge.match_weights(facts.weight_shapes, oracle.weight_shapes(values))
    assert problem is None and order != sorted(order)  # its classifier's weights come before the hidden layers'
    rng = np.random.default_rng(5)
    weights, x = oracle.random_weights(values, rng), oracle.random_inputs(rng)
    run = q3_judge.read_outputs(probes.probe_model_outputs(session, values=values, x=x, weights=[weights[index] for index in order]))
    np.testing.assert_allclose(run.outputs, oracle.forward(values, weights, x), rtol=RTOL, atol=ATOL)
    assert [call["class_name"] for call in run.calls].count("Dropout") == 2 + 3  # one Dropout(0.5) called three times
    assert spec.dropout_mistake(values, run.calls) is None
    assert keras.layers.Layer.__call__ is layer_call  # the call recorder is gone
    keras.backend.clear_session()
