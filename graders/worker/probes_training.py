"""Worker-side probes that train on CIFAR-10: the submission's best model, and its tuner's search.

The data come from a folder written by `graders.questions.q3.training` (the worker is allowed to read it):
labelled `train` and `val` splits for fitting and searching, and label-less `holdout` and
`test` images. Each probe builds its `tf.data` pipelines once, from tensors created once, and
every epoch and every trial reads those: no per-trial copies of the data. Results are raw:
Keras histories, the tuner's trial table, and the output probabilities on the label-less
splits, which the judge scores against labels it keeps.
"""
import contextlib
import io
import os
import shutil
import tempfile
import time

import numpy as np

from graders.worker.probes import hyperparameters, required

# Divides the evaluated sizes used (500, 2,000, 2,500, 10,000): one batch shape, one XLA compile.
EVAL_BATCH = 500


def load_split(data_dir, split, limit=None):
    """`(x, y)` of one split of the data folder; `y` is None for a label-less split (holdout, test)."""
    x = np.load(os.path.join(data_dir, f"{split}_x.npy"), allow_pickle=False)
    labels_path = os.path.join(data_dir, f"{split}_y.npy")
    y = np.load(labels_path, allow_pickle=False) if os.path.exists(labels_path) else None
    if limit is not None:
        x, y = x[:limit], None if y is None else y[:limit]
    return x, y


def make_dataset(x, y, batch_size, seed, shuffle):
    """Batches gathered by index from tensors made once: reshuffled every epoch, prefetched.

    Training batches (`shuffle`) are all full (the few images left over change every epoch),
    so an XLA-compiled train step sees one shape only.
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):  # tf.data runs on the host: a GPU copy would come back every batch
        images, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    indices = tf.data.Dataset.range(len(x))
    if shuffle:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size, drop_remainder=shuffle).map(
        lambda index: (tf.gather(images, index), tf.gather(labels, index)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def _start(seed, mixed_precision):
    import keras

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    keras.utils.set_random_seed(seed)


def _with_jit(build, jit_compile):
    """`build` whose models use XLA as asked (None: as the submission compiled them)."""
    if jit_compile is None:
        return build

    def build_with_jit(hp):
        model = build(hp)
        model.jit_compile = jit_compile
        return model

    return build_with_jit


def _plain_history(history):
    return {key: [float(value) for value in values] for key, values in (history or {}).items()}


def _learning_rate(model):
    try:
        return float(np.asarray(model.optimizer.learning_rate))
    except Exception:  # no optimizer, or a schedule: nothing to report
        return None


def _plain_values(values):
    """Hyperparameter values as Python numbers: BEST_HPS may hold NumPy ones."""
    return {key: value.item() if isinstance(value, np.generic) else value for key, value in dict(values).items()}


def _probabilities(model, data_dir, splits):
    """{split: the model's outputs on the split's images}, raw."""
    return {split: np.asarray(model.predict(load_split(data_dir, split)[0], batch_size=EVAL_BATCH, verbose=0)) for split in splits}


def _validation(data_dir):
    """`(x, y)` of the labelled validation split, or None when the folder has none."""
    if not os.path.exists(os.path.join(data_dir, "val_y.npy")):
        return None
    return load_split(data_dir, "val")


def probe_train_best(session, module, data_dir, epochs, batch_size, seed, values=None, train_images=None, predict=("holdout",), mixed_precision=False, jit_compile=None):
    """Train `build_model(values or BEST_HPS)` on the training split; the outputs on the `predict` splits.

    Validates on the labelled `val` split when the folder has one (the history's curves only).
    Returns the Keras history, the seconds spent, the optimizer's learning rate and the raw
    output probabilities of each split in `predict`.
    """
    import keras


    _start(seed, mixed_precision)
    if values is None:
        values = required(session, module, "BEST_HPS")
    if not isinstance(values, dict):
        raise TypeError(f"BEST_HPS must be a dict of hyperparameter values, got a {type(values).__name__}")
    values = _plain_values(values)
    model = _with_jit(required(session, module, "build_model"), jit_compile)(hyperparameters(values))
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model returned a {type(model).__name__}, not a keras.Model")
    x_train, y_train = load_split(data_dir, "train", train_images)
    validation = _validation(data_dir)
    started = time.monotonic()
    history = model.fit(
        make_dataset(x_train, y_train, batch_size, seed, shuffle=True),
        validation_data=None if validation is None else make_dataset(*validation, EVAL_BATCH, seed, shuffle=False),
        epochs=epochs,
        verbose=0,
    )
    fit_seconds = time.monotonic() - started
    probabilities = _probabilities(model, data_dir, predict)
    return {
        "values": values,
        "history": _plain_history(history.history),
        "fit_seconds": fit_seconds,
        "predict_seconds": time.monotonic() - started - fit_seconds,
        "train_images": len(x_train),
        "learning_rate": _learning_rate(model),
        "output_dtype": str(model.outputs[0].dtype) if getattr(model, "outputs", None) else None,
        "probabilities": probabilities,
    }


def _timed_trials(tuner):
    """Wrap the tuner's trial hooks on this instance to time each trial."""
    seconds, started = {}, {}
    begin, end = tuner.on_trial_begin, tuner.on_trial_end

    def on_trial_begin(trial):
        started[trial.trial_id] = time.monotonic()
        begin(trial)

    def on_trial_end(trial):
        seconds[trial.trial_id] = time.monotonic() - started.pop(trial.trial_id, time.monotonic())
        end(trial)

    tuner.on_trial_begin, tuner.on_trial_end = on_trial_begin, on_trial_end
    return seconds


def _trial_row(trial, seconds):
    values = trial.hyperparameters.values
    message = (getattr(trial, "message", None) or "").strip().splitlines()
    return {
        "trial_id": trial.trial_id,
        "status": str(trial.status),
        "score": None if trial.score is None else float(trial.score),
        "best_step": trial.best_step,
        "values": {key: value for key, value in values.items() if not key.startswith("tuner/")},
        "tuner": {key: value for key, value in values.items() if key.startswith("tuner/")},
        "seconds": seconds.get(trial.trial_id),
        "error": message[-1][:500] if message else "",
    }


def _best_model_outputs(tuner, data_dir, splits):
    """(probabilities, error): the tuner's best model (keras-tuner reloads its checkpoint) on `splits`."""
    try:
        best_model = tuner.get_best_models(1)[0]
        return _probabilities(best_model, data_dir, splits), ""
    except Exception as error:  # no completed trial, or a checkpoint that does not load
        return None, f"{type(error).__name__}: {str(error).strip()[-500:]}"


def probe_search(session, module, data_dir, max_epochs, batch_size=128, seed=0, train_images=None, val_images=None, predict=("holdout",), mixed_precision=False, jit_compile=None):
    """Run the submission's `make_tuner(...)` search for real; the trials table and its best model's outputs.

    The search validates on the labelled `val` split; after it, the tuner's best model predicts
    the label-less `predict` splits (the judge scores those). A search that raises (e.g.
    keras-tuner stops after consecutive failed trials) still returns the trials it ran, with the error.
    """

    _start(seed, mixed_precision)
    x_train, y_train = load_split(data_dir, "train", train_images)
    x_val, y_val = load_split(data_dir, "val", val_images)
    directory = tempfile.mkdtemp(prefix="search-", dir=session.settings.workdir)
    log = io.StringIO()
    error, probabilities, best_model_error = "", None, ""
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(log):
            tuner = required(session, module, "make_tuner")(directory, project_name="hw9-search", max_epochs=max_epochs, seed=seed)
            seconds = _timed_trials(tuner)
            tuner.hypermodel.build = _with_jit(tuner.hypermodel.build, jit_compile)
            try:
                tuner.search(
                    make_dataset(x_train, y_train, batch_size, seed, shuffle=True),
                    validation_data=make_dataset(x_val, y_val, EVAL_BATCH, seed, shuffle=False),
                    verbose=0,
                )
            except Exception as raised:  # reported with the trials that did run
                error = f"{type(raised).__name__}: {str(raised).strip()[-1500:]}"
            search_seconds = time.monotonic() - started
            probabilities, best_model_error = _best_model_outputs(tuner, data_dir, predict)
        trials = [_trial_row(trial, seconds) for _, trial in sorted(tuner.oracle.trials.items())]
        best_trials = [trial for trial in tuner.oracle.get_best_trials(1) if trial.score is not None]
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # checkpoints of every trial
    best = None
    if best_trials:
        row = _trial_row(best_trials[0], seconds)
        best = {"trial_id": row["trial_id"], "score": row["score"], "values": row["values"]}
    return {
        "trials": trials,
        "best": best,
        "best_model_probabilities": probabilities,
        "best_model_error": best_model_error,
        "error": error,
        "seconds": search_seconds,
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "images": {"train": len(x_train), "val": len(x_val)},
        "log_tail": log.getvalue()[-1000:] if error else "",
    }
