"""Q3 checks: search space, architecture at many points, compile settings, BEST_HPS, the tuner."""
import numpy as np
import pytest

from graders import mistakes_q3 as spec
from graders.verdict import expect_equal, fail, value_of

ARCHITECTURE_POINTS = ["golden", "random-0", "random-1", "random-2", "random-3"]
COMPILE_POINTS = ["golden", "sgd", "random-0"]


def _point(label):
    if label == "golden":
        return dict(spec.GOLDEN_HPS)
    if label == "sgd":
        return {**spec.GOLDEN_HPS, "optimizer": "sgd", "lr": 0.0005}
    # Seeded by label only: the same point for every check that names it in one run.
    return spec.random_point(np.random.default_rng([7, int(label.split("-")[1])]))


def _model(student, values):
    checked = f"build_model(hp with values {values})"
    description = value_of(student.probe_once("build_model", "q3", values=values), checked)
    model = description["model"]
    if "not_a_model" in model:
        fail(checked, "a compiled keras.Model", f"a {model['not_a_model']}", "build_model must return the model")
    return checked, description


@pytest.mark.parametrize("name", list(spec.SEARCH_SPACE))
def test_search_space(student, name):
    checked = "build_model(keras_tuner.HyperParameters()) registers the contract's search space"
    description = value_of(student.probe_once("build_model", "q3", values=None), checked)
    got = spec.space_by_name(description["space"]).get(name)
    difference = spec.space_entry_difference(name, got)
    if difference:
        fail(f"{checked}: entry {name!r}", spec.keras_tuner_space()[name], got or "not registered", difference)


@pytest.mark.parametrize("label", ARCHITECTURE_POINTS)
def test_architecture(student, label):
    values = _point(label)
    checked, description = _model(student, values)
    layers = description["model"]["layers"]
    expected = spec.expected_keras_layers(values)
    got_kinds = ["MaxPooling2D" if layer["class_name"] == "MaxPool2D" else layer["class_name"] for layer in layers]
    mistake = spec.architecture_mistake(values, layers) or spec.output_mistake(layers)
    if got_kinds != [kind for kind, _, _ in expected] or mistake:
        fail(checked, " -> ".join(kind for kind, _, _ in expected), " -> ".join(got_kinds), mistake)
    got_summary = [(layer["output_shape"][1:] if layer["output_shape"] else None, layer["params"]) for layer in layers]
    expected_summary = [(shape, params) for _, shape, params in expected]
    if got_summary != expected_summary:
        fail(f"{checked}: output shapes and parameters per layer (Keras's own count)", expected_summary, got_summary)


def test_golden_parameter_count(student):
    checked, description = _model(student, dict(spec.GOLDEN_HPS))
    layers = description["model"]["layers"]
    per_layer = [layer["params"] for layer in layers if layer["params"]]
    mistake = spec.architecture_mistake(spec.GOLDEN_HPS, layers)
    expect_equal(description["model"]["params"], spec.GOLDEN_PARAMS, f"{checked}: total parameters", lambda _: mistake)
    if per_layer != spec.GOLDEN_LAYER_PARAMS:
        fail(f"{checked}: parameters of each layer with weights", spec.GOLDEN_LAYER_PARAMS, per_layer, mistake)


@pytest.mark.parametrize("label", COMPILE_POINTS)
def test_compile_settings(student, label):
    values = _point(label)
    checked, description = _model(student, values)
    model = description["model"]
    if not model["compiled"]:
        fail(checked, "a compiled model", "an uncompiled model", "model.compile(...) was not called")
    compiled = model["compile"]
    expected = {
        "optimizer": spec.OPTIMIZER_CLASSES[values["optimizer"]],
        "learning_rate": values["lr"],
        "loss": "sparse_categorical_crossentropy",
        "accuracy metric": True,
    }
    got = {
        "optimizer": compiled["optimizer"],
        "learning_rate": round(compiled["learning_rate"], 10),
        "loss": compiled["loss"],
        "accuracy metric": "accuracy" in str(compiled["metrics"]) or "acc" in compiled["metrics"],
    }
    if not np.isclose(got["learning_rate"], expected["learning_rate"], rtol=1e-6, atol=0):
        fail(checked, expected, got, "the optimizer ignores hp 'lr' (or uses it under another name)")
    got["learning_rate"] = expected["learning_rate"]
    if got != expected:
        wrong = ", ".join(key for key in expected if got[key] != expected[key])
        fail(checked, expected, got, f"wrong compile setting: {wrong}")


def test_best_hps_in_space(student):
    checked = "BEST_HPS holds one value in the contract's space for each hyperparameter"
    best = value_of(student.attribute("q3", "BEST_HPS"), checked)
    if not isinstance(best, dict) or set(best) != set(spec.SEARCH_SPACE):
        fail(checked, sorted(spec.SEARCH_SPACE), sorted(best) if isinstance(best, dict) else best, "BEST_HPS must be a dict with exactly the six names")
    outside = {name: value for name, value in best.items() if not spec.in_space(name, value)}
    if outside:
        fail(checked, "values inside the search space", outside, f"BEST_HPS outside the space: {', '.join(outside)}")


@pytest.fixture(scope="module")
def expected_trial_counts(tmp_path_factory):
    """Trials keras-tuner's own HyperbandOracle runs for each max_epochs, with factor=3."""
    import keras_tuner

    from graders.probes import count_trials

    counts = {}

    def count(max_epochs):
        if max_epochs not in counts:
            oracle = keras_tuner.oracles.HyperbandOracle(
                objective=keras_tuner.Objective("val_accuracy", "max"),
                max_epochs=max_epochs,
                factor=3,
                hyperparameters=spec.contract_hyperparameters(),
            )
            oracle._set_project_dir(str(tmp_path_factory.mktemp("oracle")), f"max_epochs_{max_epochs}")
            counts[max_epochs] = len(count_trials(oracle))
        return counts[max_epochs]

    return count


@pytest.mark.parametrize("max_epochs", [10, 4, 27], ids=lambda epochs: f"max_epochs={epochs}")
def test_make_tuner(student, expected_trial_counts, max_epochs):
    checked = f"make_tuner(directory, max_epochs={max_epochs}) counted by keras-tuner's own oracle"
    tuner = value_of(student.probe_once("make_tuner", "q3", kwargs={"max_epochs": max_epochs}), checked)
    expected = {
        "is a Hyperband tuner": True,
        "objective": {"name": "val_accuracy", "direction": "max"},
        "max_epochs": max_epochs,
        "factor": 3,
        "trials": expected_trial_counts(max_epochs),
    }
    got = {
        "is a Hyperband tuner": "Hyperband" in tuner["mro"],
        "objective": tuner["objective"],
        "max_epochs": tuner["max_epochs"],
        "factor": tuner["factor"],
        "trials": len(tuner["trials"]),
    }
    if max_epochs == 10 and expected["trials"] != 30:
        fail("keras-tuner's own count for the contract's Hyperband", 30, expected["trials"], "the installed keras-tuner disagrees with the contract")
    if got != expected:
        wrong = [key for key in expected if got[key] != expected[key]]
        mistakes = {
            "objective": 'objective must be "val_accuracy" (the tuner maximises validation accuracy)',
            "max_epochs": "max_epochs is not passed through (hard-coded?)",
            "factor": "factor must be 3",
            "is a Hyperband tuner": "the tuner must be keras_tuner.Hyperband",
        }
        fail(checked, expected, got, next((mistakes[key] for key in wrong if key in mistakes), f"wrong {', '.join(wrong)}"))


def test_make_tuner_arguments(student):
    checked = 'make_tuner(directory, project_name="hw9-check", seed=1234)'
    tuner = value_of(student.probe("make_tuner", "q3", kwargs={"project_name": "hw9-check", "seed": 1234}, simulate=False), checked)
    expected = {"seed": 1234, "project under directory": True, "project_name": "hw9-check"}
    got = {"seed": tuner["seed"], "project under directory": tuner["directory_inside"], "project_name": tuner["project_dir_name"]}
    if got != expected:
        fail(checked, expected, got, "make_tuner ignores one of its arguments (seed, directory, project_name)")
