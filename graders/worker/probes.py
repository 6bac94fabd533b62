"""Operations a worker runs on a submission; each returns RAW material only.

The worker shares its process with the student's code, so nothing it says is trusted:
the probes call the submission and report what they see (numbers, strings, arrays,
configs as Keras and keras-tuner write them). Every description, count and verdict is
computed by the judge from that material (`graders.questions.q3.judge`, `graders.questions.q3.oracle`).
"""
import contextlib
import io
import json
import os
import tempfile

import numpy as np

_BUILT_MODELS = {}  # values -> the model of the last builds, for the outputs probe that follows
_KEPT_MODELS = 2


def probe_warm(session, libraries):
    """Import libraries the submission will need while the judge does its own start-up."""
    from graders.worker import deferred_imports

    loaded = []
    for library in libraries:
        try:
            deferred_imports.import_module(library)
            loaded.append(library)
        except Exception:  # the submission's own import will report it
            pass
    return loaded


def probe_import(session, module):
    session.module(module)
    return {"module": module}


class MissingName(LookupError):
    """The submission's module lacks a name the contract requires."""


def required(session, module, name):
    loaded = session.module(module)
    if not hasattr(loaded, name):
        raise MissingName(f"{module}.py defines no {name!r}")
    return getattr(loaded, name)


def probe_call(session, module, function, args=(), kwargs=None):
    target = required(session, module, function)
    return target(*args, **(kwargs or {}))


def probe_attribute(session, module, name):
    return required(session, module, name)


# ---------------------------------------------------------------- raw material
def _plain(item):
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, np.ndarray):
        return item.tolist()
    return repr(item)


def _raw(value):
    """JSON data as Keras and keras-tuner wrote it; anything else as its repr."""
    try:
        return json.loads(json.dumps(value, default=_plain))
    except (TypeError, ValueError, RecursionError):  # a hostile or circular object
        return repr(value)[:2000]


def _classes(value):
    """[module, qualname] of each class in the value's type's MRO."""
    return [[str(cls.__module__), str(cls.__qualname__)] for cls in type(value).__mro__]


def _number(read):
    try:
        return float(np.asarray(read()))
    except Exception:  # no such attribute, or not a number
        return None


def _attribute(value, name):
    try:
        return _raw(getattr(value, name, None))
    except Exception:  # a property that raises
        return None


def hyperparameters(values):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    if values:
        hp.values.update(values)
    return hp


def _children(layer):
    import keras

    children = layer.layers if isinstance(layer, keras.Model) else getattr(layer, "_layers", None)
    return list(children or [])


def _leaf_layers(layer, seen=None):
    """The layers without sublayers under `layer`, depth first in tracking order (nested models flattened)."""
    seen = set() if seen is None else seen
    for child in _children(layer):
        if id(child) in seen:
            continue
        seen.add(id(child))
        if _children(child):
            yield from _leaf_layers(child, seen)
        elif type(child).__name__ != "InputLayer":
            yield child


def _layer_raw(layer):
    try:
        config = _raw(layer.get_config())
    except Exception as error:  # a custom layer without get_config
        config = {"get_config failed": f"{type(error).__name__}"}
    return {"class_name": type(layer).__name__, "config": config}


def _compile_raw(model):
    optimizer, loss = getattr(model, "optimizer", None), getattr(model, "loss", None)
    if isinstance(loss, str) or loss is None:
        loss_raw = loss
    else:
        loss_raw = {"classes": _classes(loss), "name": _attribute(loss, "name"), "function_name": _attribute(loss, "__name__")}
    try:
        metrics = (model.get_compile_config() or {}).get("metrics")
    except Exception:  # a model whose compile config cannot be serialised
        metrics = None
    return {
        "optimizer": {"classes": _classes(optimizer), "learning_rate": _number(lambda: optimizer.learning_rate)},
        "loss": loss_raw,
        "metrics": _raw(metrics),
    }


def _model_raw(model, called):
    return {
        "classes": _classes(model),
        "called_to_build": called,
        "weights": [{"shape": [int(size) for size in weight.shape], "trainable": bool(weight.trainable), "path": str(getattr(weight, "path", ""))} for weight in model.weights],
        "layers": [_layer_raw(layer) for layer in _leaf_layers(model)],
        "compiled": bool(getattr(model, "compiled", False)),
        "compile": _compile_raw(model) if getattr(model, "compiled", False) else None,
    }


@contextlib.contextmanager
def _lazy_weights():
    """Keras variables made inside keep their initializer and get no value until one is assigned.

    The state Keras's own StatelessScope leaves them in, without its refusal of variables
    made from a value (an optimizer's iteration count, at compile). The structure probes
    read only the weights' shapes, and initialising a model's weights is most of its build
    (about 240 variables at 7 TensorFlow ops each for Q3's probes). Reading an unset
    variable gives a fresh draw of its initializer, as in Keras's stateless scope; the first
    value a submission assigns to one, inside this scope, becomes its value.
    """
    import keras

    inherited_assign = keras.Variable._direct_assign

    def deferred(variable, initializer):
        variable._value, variable._initializer = None, initializer

    def kept_deferred(variable):
        """Keras's own deferred initialisation (a symbolic build's stateless scope ends with it) waits too."""

    def assigned(variable, value):
        if variable._value is not None:
            return inherited_assign(variable, value)
        variable._initialize(value)  # `assign` has converted it to the variable's shape and dtype
        variable._initializer = None

    replaced = {"_initialize_with_initializer": deferred, "_deferred_initialize": kept_deferred, "_direct_assign": assigned}
    own = {name: keras.Variable.__dict__[name] for name in replaced if name in keras.Variable.__dict__}
    for name, method in replaced.items():
        setattr(keras.Variable, name, method)
    try:
        yield
    finally:
        for name in replaced:  # the methods the class inherits, or its own
            if name in own:
                setattr(keras.Variable, name, own[name])
            else:
                delattr(keras.Variable, name)


def _build(session, module, values, x=None):
    """build_model(hp at values); a model not yet built is called on `x` to build it."""
    import keras

    hp = hyperparameters(values)
    model = required(session, module, "build_model")(hp)
    called = False
    if isinstance(model, keras.Model) and x is not None and (not model.built or not model.weights):
        model(x, training=False)
        called = True
    return hp, model, called


def _key(values):
    return json.dumps(values, sort_keys=True, default=repr)


def probe_build_model(session, module="q3", values=None, input_shape=None):
    """Build the hypermodel at `values` (the defaults when None): the raw hp config and model facts.

    With `input_shape`, a model that is not built yet (a subclassed model) is called once on
    zeros of that shape, as Keras builds it on its first call.
    """
    import keras

    x = None if input_shape is None else np.zeros(tuple(input_shape), dtype=np.float32)
    with _lazy_weights():
        hp, model, called = _build(session, module, values, x)
    answer = {"hp_config": _raw(hp.get_config()), "model": {"classes": _classes(model)}}
    if isinstance(model, keras.Model):
        answer["model"] = _model_raw(model, called)
        _BUILT_MODELS.pop(_key(values), None)
        _BUILT_MODELS[_key(values)] = model
        while len(_BUILT_MODELS) > _KEPT_MODELS:
            _BUILT_MODELS.pop(next(iter(_BUILT_MODELS)))
    return answer


@contextlib.contextmanager
def _recording_calls(calls):
    """Append every Keras layer called, in call order, while inside."""
    import keras

    original = keras.layers.Layer.__call__

    def recording(layer, *args, **kwargs):
        calls.append(layer)
        return original(layer, *args, **kwargs)

    keras.layers.Layer.__call__ = recording
    try:
        yield
    finally:
        keras.layers.Layer.__call__ = original


def _to_numpy(outputs):
    import keras

    try:
        return keras.tree.map_structure(lambda tensor: np.asarray(keras.ops.convert_to_numpy(tensor)), outputs)
    except Exception:  # not tensors: the judge sees what it is
        return outputs


def probe_model_outputs(session, module="q3", values=None, x=None, weights=()):
    """`model(x, training=False)` with the judge's `weights` (in `model.weights` order) as its weights.

    Also the layers it called, in call order (reused layers once per call), as class names
    and configs: dropout, invisible at inference, is read from these by the judge.
    """
    import keras

    model = _BUILT_MODELS.get(_key(values))
    if model is None:
        _, model, _ = _build(session, module, values, x)
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model returned a {type(model).__name__}, not a keras.Model")
    if not model.built or not model.weights:
        model(x, training=False)
    variables = list(model.weights)
    if len(variables) != len(weights):
        raise ValueError(f"the model has {len(variables)} weights; the judge sent {len(weights)}")
    called = []
    # Keras's own stateless call: the judge's weights are the variables' values for this call
    # only, nothing is assigned, and the structure probe's unset variables stay unset.
    with keras.StatelessScope(state_mapping=list(zip(variables, weights)), initialize_variables=False), _recording_calls(called):
        outputs = model(x, training=False)
    layers, calls = [], []
    for layer in called:
        if _children(layer):
            continue  # the model itself and nested blocks: their leaves are recorded too
        if all(layer is not seen for seen in layers):
            layers.append(layer)
        calls.append(next(index for index, seen in enumerate(layers) if seen is layer))
    return {"outputs": _to_numpy(outputs), "layers": [_layer_raw(layer) for layer in layers], "calls": calls}


def probe_make_tuner(session, module="q3", kwargs=None):
    """Create the submission's tuner in the work dir; its class, oracle settings and project dir, raw."""
    directory = tempfile.mkdtemp(prefix="tuner-", dir=session.settings.workdir)
    with contextlib.redirect_stdout(io.StringIO()), _lazy_weights():
        tuner = required(session, module, "make_tuner")(directory, **(kwargs or {}))
    oracle = getattr(tuner, "oracle", None)
    objective = getattr(oracle, "objective", None)
    hyperparameters = getattr(oracle, "hyperparameters", None)
    try:
        hp_config = _raw(hyperparameters.get_config())
    except Exception:  # no oracle, or not keras-tuner's
        hp_config = None
    try:
        project_dir = os.path.relpath(os.path.realpath(str(tuner.project_dir)), os.path.realpath(directory))
    except Exception:  # no project_dir
        project_dir = None
    return {
        "classes": _classes(tuner),
        "oracle": {
            "classes": _classes(oracle),
            "objective": {"classes": _classes(objective), "name": _attribute(objective, "name"), "direction": _attribute(objective, "direction")},
            **{name: _attribute(oracle, name) for name in ("max_epochs", "factor", "hyperband_iterations", "seed")},
            "hp_config": hp_config,
        },
        "project_dir": project_dir,
    }
