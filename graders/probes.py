"""Operations a worker runs on a submission; each returns plain data only.

Keras models and tuners never leave the worker: they come back as JSON descriptions
(layer classes, configs, output shapes, parameter counts, compile settings).
"""
import contextlib
import io
import json
import os
import tempfile

import numpy as np

# Re-exported: the worker dispatches `probe_<name>` from this module.
from graders.probes_training import probe_search as probe_search, probe_train_best as probe_train_best

MAX_SIMULATED_TRIALS = 2000


def probe_warm(session, libraries):
    """Import libraries the submission will need while the judge does its own start-up."""
    import importlib

    loaded = []
    for library in libraries:
        try:
            importlib.import_module(library)
            loaded.append(library)
        except Exception:  # the submission's own import will report it
            pass
    return loaded


def probe_import(session, module):
    session.module(module)
    return {"module": module}


class MissingName(LookupError):
    """The submission's module lacks a name the contract requires."""


def _required(session, module, name):
    loaded = session.module(module)
    if not hasattr(loaded, name):
        raise MissingName(f"{module}.py defines no {name!r}")
    return getattr(loaded, name)


def probe_call(session, module, function, args=(), kwargs=None):
    target = _required(session, module, function)
    return target(*args, **(kwargs or {}))


def probe_attribute(session, module, name):
    return _required(session, module, name)


def _json_safe(value):
    return json.loads(json.dumps(value, default=lambda item: repr(item)))


def _shape(shape):
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
        return [list(item) for item in shape]
    return list(shape) if shape is not None else None


def _flat_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            yield layer


def describe_model(model):
    """Architecture and compile settings of a Keras model, as plain data."""
    import keras

    if not isinstance(model, keras.Model):
        return {"not_a_model": type(model).__name__}
    layers = []
    for layer in _flat_layers(model):
        try:
            output_shape = _shape(layer.output.shape)
        except Exception:  # a layer never called has no output
            output_shape = None
        layers.append(
            {
                "class_name": type(layer).__name__,
                "config": _json_safe(layer.get_config()),
                "output_shape": output_shape,
                "params": int(layer.count_params()) if layer.built else 0,
            }
        )
    description = {
        "class_name": type(model).__name__,
        "input_shape": _shape(model.inputs[0].shape) if model.inputs else None,
        "output_shape": _shape(model.outputs[0].shape) if model.outputs else None,
        "params": int(model.count_params()),
        "layers": layers,
        "compiled": bool(getattr(model, "compiled", False)),
    }
    if description["compiled"]:
        description["compile"] = _describe_compile(model)
    return description


def _describe_compile(model):
    optimizer = model.optimizer
    loss = model.loss
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", repr(loss))
    config = model.get_compile_config() or {}
    metrics = config.get("metrics") or []
    return {
        "optimizer": type(optimizer).__name__,
        "learning_rate": float(np.asarray(optimizer.learning_rate)),
        "loss": str(loss_name),
        "metrics": _json_safe(metrics),
    }


def _hyperparameters(values):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    if values:
        hp.values.update(values)
    return hp


def probe_build_model(session, module="q3", values=None):
    """Build the hypermodel at the given values (defaults when None): space and model."""
    hp = _hyperparameters(values)
    model = _required(session, module, "build_model")(hp)
    return {"space": _json_safe(hp.get_config()["space"]), "values": _json_safe(hp.values), "model": describe_model(model)}


def count_trials(oracle):
    """Drive the tuner's own oracle to the end with dummy scores: keras-tuner counts the trials."""
    rng = np.random.default_rng(0)
    objective = oracle.objective.name
    trials = []
    while len(trials) < MAX_SIMULATED_TRIALS:
        trial = oracle.create_trial("hw9-grader")
        if trial.status == "STOPPED":
            break
        if trial.status != "RUNNING":
            raise RuntimeError(f"oracle returned a trial with status {trial.status}")
        hps = trial.hyperparameters.values
        trials.append({key: hps[key] for key in sorted(hps) if key.startswith("tuner/")})
        oracle.update_trial(trial.trial_id, {objective: float(rng.random())})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return trials


def probe_make_tuner(session, module="q3", kwargs=None, simulate=True):
    """Create the submission's tuner in the work dir and describe it."""
    directory = tempfile.mkdtemp(prefix="tuner-", dir=session.settings["workdir"])
    with contextlib.redirect_stdout(io.StringIO()):
        tuner = _required(session, module, "make_tuner")(directory, **(kwargs or {}))
        oracle = tuner.oracle
        objective = oracle.objective
        description = {
            "class_name": type(tuner).__name__,
            "mro": [cls.__name__ for cls in type(tuner).__mro__],
            "oracle": type(oracle).__name__,
            "objective": {"name": getattr(objective, "name", None), "direction": getattr(objective, "direction", None)},
            "max_epochs": getattr(oracle, "max_epochs", None),
            "factor": getattr(oracle, "factor", None),
            "hyperband_iterations": getattr(oracle, "hyperband_iterations", None),
            "seed": getattr(oracle, "seed", None),
            "directory_inside": os.path.realpath(tuner.project_dir).startswith(os.path.realpath(directory)),
            "project_dir_name": os.path.basename(os.path.normpath(tuner.project_dir)),
            "space": _json_safe(oracle.hyperparameters.get_config()["space"]),
        }
        if simulate:
            description["trials"] = count_trials(oracle)
    return _json_safe(description)
