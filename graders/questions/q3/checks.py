"""Q3 checks: search space, architecture by behaviour, compile settings, BEST_HPS, the tuner.

The worker only reports raw material (hp configs, weight shapes, layer configs, outputs,
oracle settings); every verdict is the judge's. The architecture is checked by behaviour:
the judge sets seeded random weights on the student's model and compares its outputs with
the contract's model computed in float64 NumPy (`graders.questions.q3.oracle`).
"""
import numpy as np
import pytest

from graders.judge import answers, mistakes as generic, oracle_cache
from graders.judge.verdict import expect_close, expect_equal, fail, value_of
from graders.questions.q3 import judge as q3_judge, mistakes as spec, oracle

ARCHITECTURE_POINTS = ["golden", "random-0", "random-1", "random-2", "random-3"]
COMPILE_POINTS = ["golden", "sgd", "random-0"]
BUILD_INPUT = [1, *oracle.INPUT_SHAPE]  # what a model not built yet is called on to build it
# Probabilities of float32 Keras against the float64 oracle: at most 6.3e-6 relative and
# 1.1e-6 absolute over 25 points x 3 He-normal weight draws of the reference (2 images each);
# with the He-uniform draws used now, 3.3e-6 and 4.4e-7 over 25 points x 3 draws of the
# contract's model written in Keras layers (3.4e-6 and 5.1e-7 with He-normal ones).
OUTPUT_RTOL, OUTPUT_ATOL = 1e-4, 1e-6


def _point(label):
    if label == "golden":
        return dict(spec.GOLDEN_HPS)
    if label == "sgd":
        return {**spec.GOLDEN_HPS, "optimizer": "sgd", "lr": 0.0005}
    # Seeded by label only: the same point for every check that names it in one run.
    return spec.random_point(np.random.default_rng([7, int(label.split("-")[1])]))


def _read(reader, answer, checked):
    """The reader's value, or fail: a malformed answer is a wrong answer."""
    value, problem = answers.read(reader, answer)
    if problem:
        fail(checked, "a well-formed raw answer from the worker", f"the worker's answer is malformed: {problem}", generic.FORGED())
    return value


def _model(student, values):
    checked = f"build_model(hp with values {values})"
    answer = value_of(student.probe_once("build_model", "q3", values=values, input_shape=BUILD_INPUT), checked)
    model = _read(q3_judge.read_model, answer, checked)
    if not model.is_keras_model:
        fail(checked, "a compiled keras.Model", f"a {model.type_name}", spec.NOT_A_MODEL())
    return checked, model


def _shapes_text(shapes):
    return f"{oracle.parameter_count(shapes):,} parameters in weights of shapes {[tuple(shape) for shape in shapes]}"


@pytest.mark.parametrize("name", list(spec.SEARCH_SPACE))
def test_search_space(student, name):
    checked = "build_model(keras_tuner.HyperParameters()) registers the contract's search space"
    answer = value_of(student.probe_once("build_model", "q3", values=None), checked)
    got = _read(q3_judge.read_space, answer, checked).get(name)
    difference = spec.space_entry_difference(name, got)
    if difference:
        fail(f"{checked}: entry {name!r}", spec.keras_tuner_space()[name], got or "not registered", difference)


@pytest.mark.parametrize("label", ARCHITECTURE_POINTS)
def test_architecture(student, rng, label):
    values = _point(label)
    checked, model = _model(student, values)
    contract = oracle.weight_shapes(values)
    order, problem = q3_judge.match_weights(model.weight_shapes, contract)
    if problem:
        mistake = spec.architecture_mistake(values, model.layers) or spec.output_mistake(model.layers)
        fail(f"{checked}: weight shapes in model.weights order", _shapes_text(contract), _shapes_text(model.weight_shapes), mistake or spec.WEIGHT_SHAPES(difference=problem))
    if not all(model.trainable):
        frozen = [shape for shape, trainable in zip(model.weight_shapes, model.trainable) if not trainable]
        fail(f"{checked}: trainable weights", "every weight trainable", f"frozen weights of shapes {frozen}", spec.FROZEN_WEIGHTS())
    drawn_from = rng.bit_generator.state  # weights and x are its draws: the key of the oracle's logits
    weights, x = oracle.random_weights(values, rng), oracle.random_inputs(rng)
    checked_outputs = f"{checked}: model(x, training=False) on {len(x)} seeded images with the judge's seeded weights"
    answer = value_of(student.probe("model_outputs", "q3", values=values, x=x, weights=[weights[index] for index in order]), checked_outputs)
    run = _read(q3_judge.read_outputs, answer, checked_outputs)
    key = ["q3 logits", oracle_cache.source_digest(oracle.__file__), values, drawn_from]
    logits = oracle_cache.cached_array(key, lambda: oracle.forward(values, weights, x, logits=True))

    def diagnose(got):
        if got.shape == logits.shape and np.allclose(got, logits, rtol=OUTPUT_RTOL, atol=1e-5):
            return spec.OUTPUTS_ARE_LOGITS()
        named = spec.architecture_mistake(values, run.calls) or spec.output_mistake(run.calls)
        return named or spec.OUTPUTS_DIFFER()

    expect_close(run.outputs, oracle.softmax(logits), checked_outputs, OUTPUT_RTOL, OUTPUT_ATOL, diagnose)
    dropout = spec.dropout_mistake(values, run.calls)
    if dropout:
        rates = [layer["config"].get("rate") for layer in run.calls if layer["class_name"] == "Dropout"]
        fail(f"{checked}: Dropout layers the model calls (invisible at inference)", "Dropout(rate_i) rising after each block, Dropout(0.5) after each hidden Dense", f"Dropout rates in call order: {rates}", dropout)


def test_golden_parameter_count(student):
    checked, model = _model(student, dict(spec.GOLDEN_HPS))
    mistake = spec.architecture_mistake(spec.GOLDEN_HPS, model.layers)
    total = oracle.parameter_count(model.weight_shapes)
    expect_equal(total, spec.GOLDEN_PARAMS, f"{checked}: total parameters (the judge's count from the weight shapes)", lambda _: mistake)
    _, problem = q3_judge.match_weights(model.weight_shapes, oracle.weight_shapes(spec.GOLDEN_HPS))
    if problem:
        fail(f"{checked}: parameters of each layer with weights", spec.GOLDEN_LAYER_PARAMS, _shapes_text(model.weight_shapes), mistake or spec.WEIGHT_SHAPES(difference=problem))


@pytest.mark.parametrize("label", COMPILE_POINTS)
def test_compile_settings(student, label):
    values = _point(label)
    checked, model = _model(student, values)
    if not model.compiled:
        fail(checked, "a compiled model", "an uncompiled model", spec.NOT_COMPILED())
    compiled = model.compile
    expected = {
        "optimizer": spec.OPTIMIZER_CLASSES[values["optimizer"]],
        "learning_rate": values["lr"],
        "loss": "sparse_categorical_crossentropy",
        "accuracy metric": True,
    }
    learning_rate = compiled["learning_rate"]
    got = {
        "optimizer": compiled["optimizer"],
        "learning_rate": None if learning_rate is None else round(learning_rate, 10),
        "loss": expected["loss"] if expected["loss"] in compiled["loss"] else " / ".join(compiled["loss"]) or None,
        "accuracy metric": q3_judge.has_accuracy_metric(compiled["metrics"]),
    }
    if learning_rate is None or not np.isclose(learning_rate, expected["learning_rate"], rtol=1e-6, atol=0):
        fail(checked, expected, got, spec.LR_IGNORED())
    got["learning_rate"] = expected["learning_rate"]
    if got != expected:
        wrong = ", ".join(key for key in expected if got[key] != expected[key])
        fail(checked, expected, got, spec.COMPILE_SETTING(settings=wrong))


def test_best_hps_in_space(student):
    checked = "BEST_HPS holds one value in the contract's space for each hyperparameter"
    best = value_of(student.attribute("q3", "BEST_HPS"), checked)
    if not isinstance(best, dict) or set(best) != set(spec.SEARCH_SPACE):
        fail(checked, sorted(spec.SEARCH_SPACE), sorted(map(str, best)) if isinstance(best, dict) else best, spec.BEST_HPS_NOT_DICT())
    outside = {name: value for name, value in best.items() if not spec.in_space(name, value)}
    if outside:
        fail(checked, "values inside the search space", outside, spec.BEST_HPS_OUTSIDE(names=", ".join(outside)))


def _contract_trials(max_epochs):
    count, why = q3_judge.hyperband_trial_count(max_epochs, 3, 1, spec.contract_hyperparameters().get_config())
    if count is None or (max_epochs == 10 and count != 30):
        fail("keras-tuner's own count for the contract's Hyperband", 30 if max_epochs == 10 else "a count", count if count is not None else why, spec.KERAS_TUNER_DISAGREES())
    return count


@pytest.mark.parametrize("max_epochs", [10, 4, 27], ids=lambda epochs: f"max_epochs={epochs}")
def test_make_tuner(student, max_epochs):
    checked = f"make_tuner(directory, max_epochs={max_epochs}): its settings, and its trials counted by the judge with keras-tuner's own HyperbandOracle"
    tuner = _read(q3_judge.read_tuner, value_of(student.probe_once("make_tuner", "q3", kwargs={"max_epochs": max_epochs}), checked), checked)
    expected = {
        "is a Hyperband tuner": True,
        "objective": {"name": "val_accuracy", "direction": "max"},
        "max_epochs": max_epochs,
        "factor": 3,
        "trials": _contract_trials(max_epochs),
    }
    trials, why = (None, "no search space to count") if tuner["space_config"] is None else q3_judge.hyperband_trial_count(tuner["max_epochs"], tuner["factor"], tuner["hyperband_iterations"], tuner["space_config"])
    got = {
        "is a Hyperband tuner": tuner["is_hyperband"],
        "objective": tuner["objective"],
        "max_epochs": tuner["max_epochs"],
        "factor": tuner["factor"],
        "trials": trials if trials is not None else why,
    }
    if got != expected:
        wrong = [key for key in expected if got[key] != expected[key]]
        mistakes = {
            "objective": spec.TUNER_OBJECTIVE,
            "max_epochs": spec.TUNER_MAX_EPOCHS,
            "factor": spec.TUNER_FACTOR,
            "is a Hyperband tuner": spec.NOT_HYPERBAND,
        }
        named = next((mistakes[key]() for key in wrong if key in mistakes), None)
        fail(checked, expected, got, named or spec.TUNER_SETTINGS(settings=", ".join(wrong)))


def test_make_tuner_arguments(student):
    checked = 'make_tuner(directory, project_name="hw9-check", seed=1234)'
    tuner = _read(q3_judge.read_tuner, value_of(student.probe("make_tuner", "q3", kwargs={"project_name": "hw9-check", "seed": 1234}), checked), checked)
    parts = (tuner["project_dir"] or "..").split("/")
    expected = {"seed": 1234, "project under directory": True, "project_name": "hw9-check"}
    got = {"seed": tuner["seed"], "project under directory": ".." not in parts, "project_name": parts[-1]}
    if got != expected:
        fail(checked, expected, got, spec.TUNER_ARGUMENTS())
