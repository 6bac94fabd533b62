"""The Q3 training pieces on a tiny CIFAR-shaped folder: data folders, probes, tuner report."""
import csv
import types

import numpy as np
import pytest

from graders.cifar10 import data
from graders.judge import answers
from graders.questions.q3 import training
from graders.worker import probes_training

def test_data_folder_holds_labels_for_train_and_val_only(tiny_cifar, tmp_path):
    folder = training.prepare_data_folder(tmp_path / "worker-data", 30, 10, 10, with_test=True, path=tiny_cifar)
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(tiny_cifar)
    # Train and holdout are the split an earlier 30/10 train/validation split made.
    (x_fit, y_fit), (x_held, y_held) = data.train_val_split(x_train, y_train, 30, 10, seed=training.SPLIT_SEED)
    written = {path.name for path in folder.folder.iterdir()}
    assert written == {"train_x.npy", "train_y.npy", "val_x.npy", "val_y.npy", "holdout_x.npy", "test_x.npy"}
    x, y = probes_training.load_split(str(folder.folder), "train")
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, x_fit / np.float32(255), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y, y_fit)
    x, y = probes_training.load_split(str(folder.folder), "holdout")
    assert y is None
    np.testing.assert_allclose(x, x_held / np.float32(255), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(folder.holdout_labels, y_held)
    x_val, y_val = probes_training.load_split(str(folder.folder), "val")
    assert x_val.shape == (10, 32, 32, 3) and sorted(np.bincount(y_val, minlength=10)) == [1] * 10
    train, val, holdout = training.split_indices(y_train, 30, 10, 10)
    assert len(set(train) | set(val) | set(holdout)) == 50
    np.testing.assert_array_equal(y_val, y_train[val])
    x, y = probes_training.load_split(str(folder.folder), "test")
    assert y is None
    np.testing.assert_allclose(x, x_test / np.float32(255), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(folder.test_labels, y_test)
    assert folder.sizes == {"train": 30, "val": 10, "holdout": 10, "test": 20}


def test_missing_cifar_reason_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HW9_CIFAR10", str(tmp_path / "nowhere"))
    reason = training.cifar10_missing_reason()
    assert "CIFAR-10 not found" in reason and str(tmp_path / "nowhere") in reason


def test_accuracy_and_best_so_far():
    assert training.accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="predictions"):
        training.accuracy(np.array([1, 2]), np.array([1, 2, 3]))
    assert training.best_so_far([None, 0.2, 0.1, None, 0.5, 0.3]) == [None, 0.2, 0.2, 0.2, 0.5, 0.5]


def _trained(losses, lr=0.001, row_sums=(1.0, 1.0), minimum=0.0):
    outputs = {"min": minimum, "row_sum_min": row_sums[0], "row_sum_max": row_sums[1], "finite": True}
    return {"history": {"loss": losses}, "outputs": outputs, "learning_rate": lr}


@pytest.mark.parametrize(
    "trained, keyword",
    [
        pytest.param(_trained([2.3, float("nan")]), "NaN", id="nan-loss"),
        pytest.param(_trained([2.3, 2.2], row_sums=(-3.0, 7.0), minimum=-2.0), "softmax", id="no-softmax"),
        pytest.param(_trained([2.303, 2.302], lr=1e-7), "learning rate 1e-07", id="lr-ignored"),
        pytest.param(_trained([2.303, 2.302]), "barely moved", id="flat-loss"),
    ],
)
def test_learning_mistake_names_the_cause(trained, keyword):
    assert keyword in training.learning_mistake(trained, {"lr": 0.001})


def test_learning_mistake_none_for_a_model_that_learns():
    assert training.learning_mistake(_trained([2.0, 1.4]), {"lr": 0.001}) is None


SEARCH = {
    "trials": [
        {"trial_id": "0000", "status": "COMPLETED", "score": 0.31, "values": {"lr": 0.001, "optimizer": "adam"},
         "tuner": {"tuner/bracket": 1, "tuner/round": 0, "tuner/epochs": 1, "tuner/initial_epoch": 0}, "seconds": 3.25, "error": ""},
        {"trial_id": "0001", "status": "FAILED", "score": None, "values": {"lr": 0.0001, "optimizer": "sgd"},
         "tuner": {"tuner/bracket": 1, "tuner/round": 0, "tuner/epochs": 1, "tuner/initial_epoch": 0}, "seconds": 0.5, "error": "ValueError: bad"},
        {"trial_id": "0002", "status": "COMPLETED", "score": 0.42, "values": {"lr": 0.001, "optimizer": "adam"},
         "tuner": {"tuner/bracket": 1, "tuner/round": 1, "tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/trial_id": "0000"}, "seconds": 7.0, "error": ""},
    ],
    "best": {"trial_id": "0002", "score": 0.42, "values": {"lr": 0.001, "optimizer": "adam"}},
    "seconds": 10.75,
    "max_epochs": 3,
}


def test_tuner_report_writes_csv_rows_and_a_png(tmp_path):
    csv_path, png_path = training.write_tuner_report(SEARCH, tmp_path / "report", "cpu-search", "a title")
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["trial"] for row in rows] == ["0000", "0001", "0002"]
    assert [row["status"] for row in rows] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [row["score"] for row in rows] == ["0.31", "", "0.42"]
    assert [row["tuner/epochs"] for row in rows] == ["1", "1", "3"]
    assert rows[2]["tuner/trial_id"] == "0000" and rows[2]["lr"] == "0.001"
    assert png_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_trials_table_and_summary_text():
    table = training.format_trials(SEARCH).splitlines()
    assert table[0].split()[:3] == ["trial", "status", "score"]
    assert table[2].split()[:3] == ["0001", "FAILED", "-"]
    summary = training.search_summary(SEARCH)
    assert "3 trials (2 completed)" in summary and "best val_accuracy 0.4200 (trial 0002)" in summary


# ---------------------------------------------------------------- worker-side probes, in process
def _tiny_build_model(hp, fail_on_sgd=False):
    import keras

    lr = hp.Choice("lr", [0.01, 0.001])
    optimizer = hp.Choice("optimizer", ["adam", "sgd"])
    units = hp.Int("units", 8, 64, step=8)  # enough distinct points: Hyperband never runs out
    if fail_on_sgd and optimizer == "sgd":
        raise ValueError("sgd is not supported here")
    layers = [keras.layers.Flatten(), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
    model.compile(optimizer={"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _session(tmp_path, fail_on_sgd=False):
    import keras_tuner

    def build_model(hp):
        return _tiny_build_model(hp, fail_on_sgd)

    def make_tuner(directory, project_name="q3", max_epochs=10, seed=None):
        return keras_tuner.Hyperband(build_model, objective="val_accuracy", max_epochs=max_epochs, factor=3, seed=seed, directory=directory, project_name=project_name)

    module = types.SimpleNamespace(build_model=build_model, make_tuner=make_tuner, BEST_HPS={"lr": 0.01, "optimizer": "adam", "units": 16})
    (tmp_path / "work").mkdir()
    return types.SimpleNamespace(settings=types.SimpleNamespace(workdir=str(tmp_path / "work")), module=lambda name: module)


@pytest.fixture
def tiny_folder(tiny_cifar, tmp_path):
    return training.prepare_data_folder(tmp_path / "worker-data", 30, 10, 10, with_test=True, path=tiny_cifar)


def test_probe_train_best_returns_the_outputs_of_each_split(tmp_path, tiny_folder):
    splits = ("val", "holdout", "test")
    answer = probes_training.probe_train_best(_session(tmp_path), "q3", str(tiny_folder.folder), epochs=2, batch_size=8, seed=0, predict=splits)
    trained = training.read_trained(answer, splits)
    assert trained["values"] == {"lr": 0.01, "optimizer": "adam", "units": 16}
    assert len(trained["history"]["loss"]) == 2 and len(trained["history"]["val_accuracy"]) == 2
    assert [trained["probabilities"][split].shape for split in splits] == [(10, 10), (10, 10), (20, 10)]
    assert trained["learning_rate"] == pytest.approx(0.01, rel=1e-6)
    summary = training.output_summary(trained["probabilities"]["holdout"])
    np.testing.assert_allclose([summary["row_sum_min"], summary["row_sum_max"]], [1, 1], rtol=0, atol=1e-5)
    # The judge's accuracy from the outputs is Keras's own on the same labelled images.
    _, y_val = probes_training.load_split(str(tiny_folder.folder), "val")
    predictions = training.predicted_classes(trained["probabilities"]["val"], y_val, "val")
    assert training.accuracy(predictions, y_val) == pytest.approx(trained["history"]["val_accuracy"][-1], abs=1e-6)


def test_probe_train_best_accepts_numpy_hyperparameters(tmp_path, tiny_folder):
    values = {"lr": np.float64(0.01), "optimizer": "adam", "units": np.int64(16)}
    answer = probes_training.probe_train_best(_session(tmp_path), "q3", str(tiny_folder.folder), epochs=1, batch_size=8, seed=0, values=values)
    assert answer["values"] == {"lr": 0.01, "optimizer": "adam", "units": 16} and answer["probabilities"]["holdout"].shape == (10, 10)


def test_probe_search_returns_every_trial_and_the_best_models_outputs(tmp_path, tiny_folder):
    answer = probes_training.probe_search(_session(tmp_path), "q3", str(tiny_folder.folder), max_epochs=3, batch_size=8, seed=1)
    search = training.read_search(answer, ("holdout",))
    assert search["error"] == "" and search["best_model_error"] == ""
    assert [trial["trial_id"] for trial in search["trials"]] == [f"{i:04d}" for i in range(6)]
    assert all(trial["status"] == "COMPLETED" and trial["seconds"] > 0 for trial in search["trials"])
    assert search["best"]["score"] == max(trial["score"] for trial in search["trials"])
    assert search["best_model_probabilities"]["holdout"].shape == (10, 10)
    assert answer["images"] == {"train": 30, "val": 10}
    assert not list((tmp_path / "work").iterdir())  # the checkpoints are removed


def test_probe_search_reports_failed_trials_and_the_stop(tmp_path, tiny_folder):
    search = probes_training.probe_search(_session(tmp_path, fail_on_sgd=True), "q3", str(tiny_folder.folder), max_epochs=2, batch_size=8, seed=1)
    failed = [trial for trial in search["trials"] if trial["status"] != "COMPLETED"]
    assert failed and all("sgd is not supported" in trial["error"] for trial in failed)
    assert all(trial["values"]["optimizer"] == "sgd" for trial in failed)


# ---------------------------------------------------------------- the judge reads raw answers
TRAINED = {"values": {"lr": 0.001}, "history": {"loss": [2.3, 2.1]}, "fit_seconds": 1.5, "train_images": 30, "learning_rate": 0.001,
           "probabilities": {"holdout": np.full((4, 10), 0.1, dtype=np.float32)}}


@pytest.mark.parametrize(
    "change, where",
    [
        ({"probabilities": {}}, "lacks 'holdout'"),
        ({"probabilities": {"holdout": [[0.1] * 10] * 4}}, "not a NumPy array"),
        ({"probabilities": {"holdout": np.array(["a"] * 10)}}, "not a real number type"),
        ({"history": {"loss": ["2.3"]}}, "not a number"),
        ({"learning_rate": True}, "not a number"),
        ({"values": "BEST_HPS"}, "not a dict"),
    ],
    ids=["missing-split", "list-outputs", "string-outputs", "string-loss", "bool-lr", "string-values"],
)
def test_a_malformed_training_answer_is_rejected_with_the_place(change, where):
    value, problem = answers.read(training.read_trained, {**TRAINED, **change}, ("holdout",))
    assert value is None and where in problem


def test_predictions_of_the_wrong_shape_are_malformed_and_nan_is_a_wrong_class():
    labels = np.array([0, 1, 2, 3])
    with pytest.raises(answers.Malformed, match="shape"):
        training.predicted_classes(np.zeros((3, 10)), labels, "holdout")
    outputs = np.eye(10)[[0, 1, 5, 3]]
    outputs[3] = np.nan
    assert training.accuracy(training.predicted_classes(outputs, labels, "holdout"), labels) == 0.5


def test_a_search_answer_without_a_best_model_reads_as_none():
    answer = {"trials": [], "best": None, "best_model_probabilities": None, "best_model_error": "IndexError: list index out of range",
              "error": "", "seconds": 1.0, "max_epochs": 3}
    search = training.read_search(answer, ("holdout",))
    assert search["best"] is None and search["best_model_probabilities"] is None
    assert answers.read(training.read_search, {**answer, "trials": [{"trial_id": 1}]}, ("holdout",))[1].startswith("answer['trials'][0] lacks")
