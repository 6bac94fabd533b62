"""The judge's reading of the worker's raw Q3 answers: structure, weights, compile settings, trial counts.

Nothing here runs student code. Answers come from `graders.worker.probes` (raw hp configs, weight
shapes, layer configs, outputs, oracle settings); a malformed one raises `answers.Malformed`.
"""
import contextlib
import functools
import io
import json
from dataclasses import dataclass, field

import numpy as np

from graders.judge import answers, oracle_cache
from graders.judge.answers import Malformed

MAX_SIMULATED_TRIALS = 2000
MAX_DIMENSION = 2**31  # of one weight axis
HP_CLASSES = {"Boolean", "Choice", "Fixed", "Float", "Int"}
# Hyperband settings the judge simulates; outside them the count is not attempted.
SIMULATED_RANGES = {"max_epochs": (1, 1000), "factor": (2, 100), "hyperband_iterations": (1, 10)}


def has_class(class_list, qualname, package):
    """Whether a reported MRO holds `qualname` from a module of `package`."""
    return any(name == qualname and module.split(".")[0] == package for module, name in class_list)


# ---------------------------------------------------------------- search space
def read_hyperparameters(config, where="hp_config"):
    """A keras_tuner.HyperParameters rebuilt by the judge from a raw `get_config()`."""
    import keras_tuner

    answers.mapping(config, where, required=("space", "values"))
    for index, entry in enumerate(answers.sequence(config["space"], f"{where}['space']")):
        answers.mapping(entry, f"{where}['space'][{index}]", required=("class_name", "config"))
        if not isinstance(entry["class_name"], str) or entry["class_name"] not in HP_CLASSES:
            raise Malformed(f"{where}['space'][{index}] is a {entry['class_name']!r}, not a keras-tuner hyperparameter")
        answers.mapping(entry["config"], f"{where}['space'][{index}]['config']", required=("name",))
    config = answers.plain(config, where)
    try:
        return keras_tuner.HyperParameters.from_config(config)
    except Exception as error:  # keras-tuner rejects it: not a config it wrote
        raise Malformed(f"{where} is not a keras-tuner config: {type(error).__name__}: {str(error)[:200]}") from None


def read_space(answer):
    """{name: config} of the hyperparameters the worker's build registered."""
    from graders.questions.q3.mistakes import space_by_name

    answers.mapping(answer, "answer", required=("hp_config",))
    return space_by_name(read_hyperparameters(answer["hp_config"], "answer['hp_config']").get_config()["space"])


# ---------------------------------------------------------------- the model
@dataclass
class ModelFacts:
    """What the worker saw of build_model's return value."""

    classes: list
    weight_shapes: list = field(default_factory=list)
    trainable: list = field(default_factory=list)
    layers: list = field(default_factory=list)  # [{"class_name", "config"}], leaves in tracking order
    compiled: bool = False
    compile: dict | None = None

    @property
    def is_keras_model(self):
        return has_class(self.classes, "Model", "keras")

    @property
    def type_name(self):
        return self.classes[0][1] if self.classes else "nothing"


def read_layers(value, where):
    layers = []
    for index, layer in enumerate(answers.sequence(value, where)):
        answers.mapping(layer, f"{where}[{index}]", required=("class_name", "config"))
        config = answers.plain(layer["config"], f"{where}[{index}]['config']")
        layers.append({"class_name": answers.string(layer["class_name"], f"{where}[{index}]['class_name']"), "config": config if isinstance(config, dict) else {}})
    return layers


def read_model(answer):
    """ModelFacts from a `probe_build_model` answer."""
    answers.mapping(answer, "answer", required=("model",))
    raw = answers.mapping(answer["model"], "answer['model']", required=("classes",))
    facts = ModelFacts(classes=answers.classes(raw["classes"], "answer['model']['classes']"))
    if not facts.is_keras_model:
        return facts
    answers.mapping(raw, "answer['model']", required=("weights", "layers", "compiled", "compile"))
    for index, weight in enumerate(answers.sequence(raw["weights"], "answer['model']['weights']")):
        where = f"answer['model']['weights'][{index}]"
        answers.mapping(weight, where, required=("shape", "trainable"))
        shape = answers.sequence(weight["shape"], f"{where}['shape']")
        if len(shape) > 8:
            raise Malformed(f"{where}['shape'] has {len(shape)} dimensions")
        facts.weight_shapes.append(tuple(answers.integer(size, f"{where}['shape']", minimum=0, maximum=MAX_DIMENSION) for size in shape))
        facts.trainable.append(answers.boolean(weight["trainable"], f"{where}['trainable']"))
    facts.layers = read_layers(raw["layers"], "answer['model']['layers']")
    facts.compiled = answers.boolean(raw["compiled"], "answer['model']['compiled']")
    if facts.compiled:
        facts.compile = read_compile(raw["compile"])
    return facts


def read_compile(raw, where="answer['model']['compile']"):
    """{"optimizer": class name, "learning_rate", "loss": names, "metrics"} from the raw compile facts."""
    answers.mapping(raw, where, required=("optimizer", "loss", "metrics"))
    optimizer = answers.mapping(raw["optimizer"], f"{where}['optimizer']", required=("classes", "learning_rate"))
    optimizer_classes = answers.classes(optimizer["classes"], f"{where}['optimizer']['classes']")
    loss = raw["loss"]
    if isinstance(loss, dict):
        answers.mapping(loss, f"{where}['loss']", required=("name", "function_name"))
        names = [name for name in (loss["name"], loss["function_name"]) if isinstance(name, str)]
    else:
        names = [answers.string(loss, f"{where}['loss']", optional=True)]
    return {
        "optimizer": optimizer_classes[0][1] if optimizer_classes else None,
        "learning_rate": answers.number(optimizer["learning_rate"], f"{where}['optimizer']['learning_rate']", optional=True),
        "loss": [name for name in names if name],
        "metrics": answers.plain(raw["metrics"], f"{where}['metrics']"),
    }


def has_accuracy_metric(metrics):
    return "accuracy" in str(metrics) or (isinstance(metrics, list) and "acc" in metrics)


def match_weights(student_shapes, contract_shapes):
    """(order, None): for each student weight in order, the first unused contract weight of its shape;
    (None, why) when the two lists of shapes are not the same multiset."""
    unused = list(range(len(contract_shapes)))
    order, extra = [], []
    for shape in student_shapes:
        index = next((index for index in unused if tuple(contract_shapes[index]) == tuple(shape)), None)
        if index is None:
            extra.append(tuple(shape))
        else:
            unused.remove(index)
            order.append(index)
    if not extra and not unused:
        return order, None
    parts = []
    if extra:
        parts.append(f"weights the contract's model has no match for: {_shapes(extra)}")
    if unused:
        parts.append(f"contract weights the model lacks: {_shapes([tuple(contract_shapes[index]) for index in unused])}")
    return None, "; ".join(parts)


def _shapes(shapes, limit=8):
    shown = ", ".join(str(shape) for shape in shapes[:limit])
    return shown + (f" and {len(shapes) - limit} more" if len(shapes) > limit else "")


@dataclass
class ForwardRun:
    outputs: object  # whatever came back; the check validates it as an array
    calls: list  # [{"class_name", "config"}] of each leaf layer call, in call order


def read_outputs(answer):
    """ForwardRun from a `probe_model_outputs` answer."""
    answers.mapping(answer, "answer", required=("outputs", "layers", "calls"))
    layers = read_layers(answer["layers"], "answer['layers']")
    calls = []
    for index, call in enumerate(answers.sequence(answer["calls"], "answer['calls']")):
        position = answers.integer(call, f"answer['calls'][{index}]", minimum=0)
        if position >= len(layers):
            raise Malformed(f"answer['calls'][{index}] is {position}, but only {len(layers)} layers were reported")
        calls.append(layers[position])
    return ForwardRun(outputs=answer["outputs"], calls=calls)


# ---------------------------------------------------------------- the tuner
def read_tuner(answer):
    """{"is_hyperband", "objective", "max_epochs", "factor", "hyperband_iterations", "seed", "space_config", "project_dir"}."""
    answers.mapping(answer, "answer", required=("classes", "oracle", "project_dir"))
    oracle = answers.mapping(answer["oracle"], "answer['oracle']", required=("objective", "max_epochs", "factor", "hyperband_iterations", "seed", "hp_config"))
    objective = answers.mapping(oracle["objective"], "answer['oracle']['objective']", required=("name", "direction"))
    settings = {name: answers.plain(oracle[name], f"answer['oracle'][{name!r}]") for name in ("max_epochs", "factor", "hyperband_iterations", "seed")}
    space = None
    if oracle["hp_config"] is not None:
        space = read_hyperparameters(oracle["hp_config"], "answer['oracle']['hp_config']").get_config()
    return {
        "is_hyperband": has_class(answers.classes(answer["classes"], "answer['classes']"), "Hyperband", "keras_tuner"),
        "objective": {"name": answers.plain(objective["name"], "objective name"), "direction": answers.plain(objective["direction"], "objective direction")},
        **settings,
        "space_config": space,
        "project_dir": answers.string(answer["project_dir"], "answer['project_dir']", optional=True),
    }


def count_trials(oracle):
    """Drive a keras-tuner oracle to the end with dummy scores: keras-tuner counts the trials."""
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


def hyperband_trial_count(max_epochs, factor, hyperband_iterations, space_config):
    """(trials, None) of keras-tuner's own HyperbandOracle with these settings, or (None, why not)."""
    settings = {"max_epochs": max_epochs, "factor": factor, "hyperband_iterations": hyperband_iterations}
    for name, value in settings.items():
        low, high = SIMULATED_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return None, f"not counted: {name}={value!r} is outside {low}..{high}"
    try:
        space_json = json.dumps(space_config, sort_keys=True)
    except (TypeError, ValueError):
        return None, "not counted: the search space is not plain data"
    return _count(max_epochs, factor, hyperband_iterations, space_json)


@functools.cache
def _unsaved_hyperband_oracle():
    """keras-tuner's HyperbandOracle, its scheduling untouched, that writes no trial or oracle files.

    Saving only persists the state for a later `reload()`; counting never reloads, and the
    files cost a third of the count (two JSON writes per trial through TensorFlow's gfile).
    """
    import keras_tuner

    class UnsavedHyperbandOracle(keras_tuner.oracles.HyperbandOracle):
        def save(self):
            pass

        def _save_trial(self, trial):
            pass

    return UnsavedHyperbandOracle


@functools.lru_cache(maxsize=16)
def _count(max_epochs, factor, hyperband_iterations, space_json):
    """(trials, None) or (None, why not); a count is shared with the run's other judges (see oracle_cache)."""
    import keras_tuner

    def count():
        with contextlib.redirect_stdout(io.StringIO()):  # no project folder: this oracle writes no files
            oracle = _unsaved_hyperband_oracle()(
                objective=keras_tuner.Objective("val_accuracy", "max"), max_epochs=max_epochs, factor=factor,
                hyperband_iterations=hyperband_iterations, hyperparameters=keras_tuner.HyperParameters.from_config(json.loads(space_json)), seed=0,
            )
            return np.asarray(len(count_trials(oracle)))

    key = ["q3 hyperband trials", oracle_cache.source_digest(__file__), keras_tuner.__version__, max_epochs, factor, hyperband_iterations, space_json]
    try:
        return int(oracle_cache.cached_array(key, count)), None
    except Exception as error:  # an oracle that cannot run this space
        return None, f"not counted: keras-tuner's oracle stopped with {type(error).__name__}: {str(error)[:200]}"
