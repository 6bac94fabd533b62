"""The worker's structure probes build Keras models without initialising their weights.

`probes._lazy_weights`: variables made inside keep their initializer until a value is
assigned; Keras is left as it was found, and a model built so gives the outputs of one
built as usual once the judge's weights are set.
"""
import importlib.util
import types

import keras
import numpy as np
import pytest

from graders import layout
from graders.questions.q3 import judge as q3_judge, mistakes as spec, oracle
from graders.worker import probes

GOLDEN = dict(spec.GOLDEN_HPS)
BUILD_INPUT = [1, *oracle.INPUT_SHAPE]


def _submission(path, tmp_path):
    loaded = importlib.util.spec_from_file_location(f"hw9_lazy_{path.parent.name}", path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return types.SimpleNamespace(module=lambda name: module, settings=types.SimpleNamespace(workdir=str(tmp_path)))


@pytest.fixture
def reference(tmp_path):
    yield _submission(layout.PROJECT_ROOT / "solutions" / "q3.py", tmp_path)
    probes._BUILT_MODELS.clear()
    keras.backend.clear_session()


def _outputs(session, values, seed):
    facts = q3_judge.read_model(probes.probe_build_model(session, values=values, input_shape=BUILD_INPUT))
    order, problem = q3_judge.match_weights(facts.weight_shapes, oracle.weight_shapes(values))
    assert problem is None
    rng = np.random.default_rng(seed)
    weights, x = oracle.random_weights(values, rng), oracle.random_inputs(rng)
    ordered = [weights[index] for index in order]
    return probes.probe_model_outputs(session, values=values, x=x, weights=ordered), (x, ordered)


def test_a_structure_probe_leaves_its_models_weights_unset(reference):
    probes.probe_build_model(reference, values=GOLDEN, input_shape=BUILD_INPUT)
    (model,) = probes._BUILT_MODELS.values()
    assert len(model.weights) == len(oracle.weight_shapes(GOLDEN))
    assert all(weight._value is None for weight in model.weights)  # no initializer ran


def test_the_probes_leave_keras_variables_as_they_found_them(reference):
    methods = dict(vars(keras.Variable))
    probes.probe_build_model(reference, values=GOLDEN, input_shape=BUILD_INPUT)
    probes.probe_make_tuner(reference, kwargs={"max_epochs": 4})
    assert dict(vars(keras.Variable)) == methods
    made_after = keras.Variable(initializer="ones", shape=(3,))
    np.testing.assert_allclose(made_after.numpy(), np.ones(3), rtol=0, atol=0)
    made_after.assign([1.0, 2.0, 3.0])
    np.testing.assert_allclose(made_after.numpy(), [1.0, 2.0, 3.0], rtol=0, atol=0)


def test_a_lazily_built_model_answers_as_one_built_as_usual_with_the_same_weights(reference):
    lazily, (x, weights) = _outputs(reference, GOLDEN, seed=11)
    (model,) = probes._BUILT_MODELS.values()
    assert all(weight._value is None for weight in model.weights)  # the outputs probe assigned nothing
    usual = reference.module("q3").build_model(probes.hyperparameters(GOLDEN))
    usual.set_weights(weights)
    np.testing.assert_allclose(lazily["outputs"], np.asarray(usual(x, training=False)), rtol=1e-6, atol=1e-7)
    probes._BUILT_MODELS.clear()  # the outputs probe now builds its own model, weights initialised
    rebuilt = probes.probe_model_outputs(reference, values=GOLDEN, x=x, weights=weights)
    np.testing.assert_allclose(rebuilt["outputs"], lazily["outputs"], rtol=1e-6, atol=1e-7)
    assert _unnamed(lazily["layers"]) == _unnamed(rebuilt["layers"]) and lazily["calls"] == rebuilt["calls"]


def _unnamed(layers):
    """The layers' classes and configs, less the names Keras numbers per session."""
    return [(layer["class_name"], {key: value for key, value in layer["config"].items() if key != "name"}) for layer in layers]


def test_an_unset_variable_reads_as_its_initializer_and_takes_the_first_value_assigned():
    with probes._lazy_weights():
        variable = keras.Variable(initializer="ones", shape=(2, 2))
        np.testing.assert_allclose(np.asarray(variable), np.ones((2, 2)), rtol=0, atol=0)
        assert variable._value is None
        variable.assign(np.full((2, 2), 3.0))
        counter = keras.Variable(0, dtype="int64")  # made from a value: created as usual
    np.testing.assert_allclose(variable.numpy(), np.full((2, 2), 3.0), rtol=0, atol=0)
    variable.assign(np.zeros((2, 2)))
    np.testing.assert_allclose(variable.numpy(), np.zeros((2, 2)), rtol=0, atol=0)
    assert int(counter.numpy()) == 0
    with pytest.raises(ValueError, match="shape"):
        variable.assign(np.zeros(3))


def test_a_build_model_that_uses_its_weights_is_probed_as_the_oracle_says(tmp_path):
    session = _submission(layout.CORPUS_DIR / "valid-build-uses-its-weights" / "q3.py", tmp_path)
    try:
        answer, (x, weights) = _outputs(session, GOLDEN, seed=12)
        run = q3_judge.read_outputs(answer)
        facts = q3_judge.read_model(probes.probe_build_model(session, values=GOLDEN, input_shape=BUILD_INPUT))
        order, _ = q3_judge.match_weights(facts.weight_shapes, oracle.weight_shapes(GOLDEN))
        in_oracle_order = [None] * len(weights)
        for position, index in enumerate(order):
            in_oracle_order[index] = weights[position]
        np.testing.assert_allclose(run.outputs, oracle.forward(GOLDEN, in_oracle_order, x), rtol=1e-4, atol=1e-6)
    finally:
        probes._BUILT_MODELS.clear()
        keras.backend.clear_session()
