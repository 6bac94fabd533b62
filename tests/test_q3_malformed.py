"""Forged or damaged worker answers to the Q3 checks are wrong answers, never a crash of the check code.

Every place of a well-formed answer (the reference's, made in process) is replaced in turn by
values of other types, and each Q3 check is run on it through a stand-in for the worker: it
must pass or fail with the standard message; any other exception would be an internal error.
"""
import types

import numpy as np
import pytest

from graders.judge.harness import CallResult
from graders.questions.q3 import checks, mistakes as spec, oracle
from graders.worker import probes
from graders.worker.protocol import Unsupported
from solutions import q3 as reference

GARBAGE = [None, -1, float("nan"), "x", True, [], {}, Unsupported("q3.Anything", ""), np.zeros((2, 10))]


class StandIn:
    """The `student` of a check, answering every probe with a fixed value."""

    def __init__(self, answers):
        self.answers = answers

    def probe(self, probe, module, **params):
        return CallResult(True, value=self.answers[probe])

    probe_once = probe

    def attribute(self, module, name):
        return CallResult(True, value=self.answers["attribute"])


@pytest.fixture(scope="module")
def honest():
    """The reference's raw answers at the golden point, as the worker's probes make them."""
    session = types.SimpleNamespace(module=lambda name: reference, settings={"workdir": None})
    values = dict(spec.GOLDEN_HPS)
    built = probes.probe_build_model(session, values=values, input_shape=[1, 32, 32, 3])
    rng = np.random.default_rng(0)  # the draws the architecture check makes with this generator
    weights = oracle.random_weights(values, rng)
    outputs = probes.probe_model_outputs(session, values=values, x=oracle.random_inputs(rng), weights=weights)
    tuner = {"classes": [["keras_tuner.src.tuners.hyperband", "Hyperband"]], "project_dir": "hw9-check",
             "oracle": {"classes": [], "objective": {"classes": [], "name": "val_accuracy", "direction": "max"}, "max_epochs": 10, "factor": 3,
                        "hyperband_iterations": 1, "seed": 1234, "hp_config": built["hp_config"]}}
    return {"build_model": built, "model_outputs": outputs, "make_tuner": tuner, "attribute": dict(spec.GOLDEN_HPS)}


def _places(value, path=()):
    """Paths to every dict value and the first item of every list, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value[:1]) if isinstance(value, list) else ()
    for key, item in items:
        yield (*path, key)
        yield from _places(item, (*path, key))


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


def _architecture(student):
    checks.test_architecture(student, np.random.default_rng(0), "golden")


CHECKS = {  # probe -> the checks that read its answer
    "build_model": [lambda s: checks.test_search_space(s, "filters"), _architecture, checks.test_golden_parameter_count, lambda s: checks.test_compile_settings(s, "golden")],
    "model_outputs": [_architecture],
    "make_tuner": [lambda s: checks.test_make_tuner(s, 10), checks.test_make_tuner_arguments],
    "attribute": [checks.test_best_hps_in_space],
}


def _outcome(check, answers):
    try:
        check(StandIn(answers))
    except pytest.fail.Exception as failed:
        return "failed", str(failed)
    return "passed", ""


@pytest.fixture
def same_draws(monkeypatch):
    """The architecture check's weights and oracle outputs, computed once: every run here draws the same."""
    memo = {}

    def once(function):
        def remembered(values, *args, **kwargs):
            key = (function.__name__, repr(sorted(values.items())), kwargs.get("logits", False))
            if key not in memo:
                memo[key] = function(values, *args, **kwargs)
            return memo[key]

        return remembered

    monkeypatch.setattr(oracle, "random_weights", once(oracle.random_weights))
    monkeypatch.setattr(oracle, "forward", once(oracle.forward))


@pytest.mark.parametrize("probe", sorted(CHECKS))
def test_every_damaged_answer_is_a_failed_check_never_a_crash(honest, same_draws, probe):
    for check in CHECKS[probe]:
        assert _outcome(check, honest) == ("passed", ""), "the honest answers pass"
    places = [()] + list(_places(honest[probe]))
    for path in places:
        for garbage in GARBAGE:
            answers = {**honest, probe: _replaced(honest[probe], path, garbage)}
            for check in CHECKS[probe]:
                _outcome(check, answers)  # any exception but a failed check propagates


def test_a_forged_description_is_named_malformed(honest):
    forged = {"space": [], "values": {}, "model": {"class_name": "Sequential", "params": 928_234, "layers": []}}
    status, message = _outcome(checks.test_golden_parameter_count, {**honest, "build_model": forged})
    assert status == "failed" and "the worker's answer is malformed: answer['model'] lacks 'classes'" in message


# ---------------------------------------------------------------- the CIFAR-10 checks
LABELS = np.arange(20) % 10
TRIAL = {"trial_id": "0000", "status": "COMPLETED", "score": 0.3, "best_step": 1, "values": dict(spec.GOLDEN_HPS),
         "tuner": {"tuner/epochs": 1, "tuner/bracket": 1, "tuner/round": 0, "tuner/initial_epoch": 0}, "seconds": 1.5, "error": ""}
TRAINING = {
    "train_best": {"values": dict(spec.GOLDEN_HPS), "history": {"loss": [2.3, 1.9], "val_accuracy": [0.2, 0.3]}, "fit_seconds": 3.0, "train_images": 100,
                   "learning_rate": 0.001, "probabilities": {"holdout": np.eye(10, dtype=np.float32)[LABELS]}},
    "search": {"trials": [TRIAL, {**TRIAL, "trial_id": "0001", "tuner": {**TRIAL["tuner"], "tuner/trial_id": "0000"}}],
               "best": {"trial_id": "0000", "score": 0.3, "values": dict(spec.GOLDEN_HPS)},
               "best_model_probabilities": {"holdout": np.eye(10, dtype=np.float32)[LABELS]}, "best_model_error": "", "error": "", "seconds": 9.0,
               "max_epochs": 3, "batch_size": 32, "images": {"train": 100, "val": 50}, "log_tail": ""},
}


@pytest.mark.parametrize("probe", sorted(TRAINING))
def test_every_damaged_training_answer_is_a_failed_check_never_a_crash(probe, tmp_path, monkeypatch):
    from graders.questions.q3 import training
    from graders.questions.q3 import checks_cifar as cifar

    monkeypatch.setattr(training, "plot_trials", lambda search, path, title, floor=None: path.write_bytes(b""))  # the slow part
    folder = types.SimpleNamespace(folder=tmp_path, holdout_labels=LABELS)
    check = {"train_best": lambda s: cifar.test_best_model_learns(s, folder, lambda *_: None),
             "search": lambda s: cifar.test_tuner_search(s, folder, tmp_path / "report", lambda *_: None)}[probe]
    assert _outcome(check, TRAINING) == ("passed", ""), "the honest answers pass"
    for path in [()] + list(_places(TRAINING[probe])):
        for garbage in GARBAGE:
            _outcome(check, {**TRAINING, probe: _replaced(TRAINING[probe], path, garbage)})


def test_the_tuner_report_draws_trials_without_scores_or_brackets(tmp_path):
    from graders.questions.q3 import training

    search = training.read_search({**TRAINING["search"], "trials": [{**TRIAL, "score": None, "tuner": {}}, {**TRIAL, "status": "FAILED", "score": None}]}, ("holdout",))
    _, png = training.write_tuner_report(search, tmp_path, "odd", "a title", floor=0.15)
    assert png.read_bytes().startswith(b"\x89PNG")
