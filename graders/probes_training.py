"""Worker-side probes that train on CIFAR-10: the submission's best model, and its tuner's search.

The data come from a folder written by `graders.training` (the worker is allowed to read it).
Each probe builds its `tf.data` pipelines once, from tensors created once, and every epoch
and every trial reads those: no per-trial copies of the data. Results are plain data:
histories, trial tables, predicted classes (the judge scores them against labels it keeps).
"""
import contextlib
import io
import os
import shutil
import tempfile
import time

import numpy as np

# Divides the validation and test sizes used (2,000, 5,000, 10,000): one batch shape, one XLA compile.
EVAL_BATCH = 1000


def load_split(data_dir, split, limit=None):
    """`(x, y)` of one split of the data folder; `y` is None for the test split (judge only)."""
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


def _output_summary(probabilities):
    """What the model outputs look like: probabilities sum to 1 per row and are >= 0."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    sums = probabilities.sum(axis=-1)
    return {
        "dtype": str(probabilities.dtype),
        "min": float(np.nanmin(probabilities)) if np.isfinite(probabilities).any() else float("nan"),
        "row_sum_min": float(np.nanmin(sums)) if np.isfinite(sums).any() else float("nan"),
        "row_sum_max": float(np.nanmax(sums)) if np.isfinite(sums).any() else float("nan"),
        "finite": bool(np.isfinite(probabilities).all()),
    }


def _learning_rate(model):
    try:
        return float(np.asarray(model.optimizer.learning_rate))
    except Exception:  # no optimizer, or a schedule: nothing to report
        return None


def probe_train_best(session, module, data_dir, epochs, batch_size, seed, values=None, train_images=None, predict=("val",), mixed_precision=False, jit_compile=None):
    """Train `build_model(values or BEST_HPS)` on the training split; predict the asked splits.

    Returns the history (with validation curves), the seconds spent, the learning rate the
    optimizer used, the predicted classes of each split in `predict` and a summary of the
    output probabilities on the validation split.
    """
    import keras

    from graders.probes import _hyperparameters, _required

    _start(seed, mixed_precision)
    if values is None:
        values = _required(session, module, "BEST_HPS")
    if not isinstance(values, dict):
        raise TypeError(f"BEST_HPS must be a dict of hyperparameter values, got a {type(values).__name__}")
    model = _with_jit(_required(session, module, "build_model"), jit_compile)(_hyperparameters(dict(values)))
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model returned a {type(model).__name__}, not a keras.Model")
    x_train, y_train = load_split(data_dir, "train", train_images)
    x_val, y_val = load_split(data_dir, "val")
    started = time.monotonic()
    history = model.fit(
        make_dataset(x_train, y_train, batch_size, seed, shuffle=True),
        validation_data=make_dataset(x_val, y_val, EVAL_BATCH, seed, shuffle=False),
        epochs=epochs,
        verbose=0,
    )
    fit_seconds = time.monotonic() - started
    predictions, outputs = {}, None
    for split in predict:
        x, _ = load_split(data_dir, split) if split != "val" else (x_val, None)
        probabilities = np.asarray(model.predict(x, batch_size=EVAL_BATCH, verbose=0))
        predictions[split] = np.argmax(probabilities, axis=-1).astype(np.int64)
        if split == "val":
            outputs = _output_summary(probabilities)
    return {
        "values": dict(values),
        "history": _plain_history(history.history),
        "fit_seconds": fit_seconds,
        "predict_seconds": time.monotonic() - started - fit_seconds,
        "train_images": len(x_train),
        "learning_rate": _learning_rate(model),
        "output_dtype": str(model.outputs[0].dtype) if model.outputs else None,
        "outputs": outputs,
        "predictions": predictions,
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


def probe_search(session, module, data_dir, max_epochs, batch_size=128, seed=0, train_images=None, val_images=None, mixed_precision=False, jit_compile=None):
    """Run the submission's `make_tuner(...)` search for real; return the trials table.

    A search that raises (e.g. keras-tuner stops after consecutive failed trials) still
    returns the trials it ran, with the error.
    """
    from graders.probes import _required

    _start(seed, mixed_precision)
    x_train, y_train = load_split(data_dir, "train", train_images)
    x_val, y_val = load_split(data_dir, "val", val_images)
    directory = tempfile.mkdtemp(prefix="search-", dir=session.settings["workdir"])
    log = io.StringIO()
    error = ""
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(log):
            tuner = _required(session, module, "make_tuner")(directory, project_name="hw9-search", max_epochs=max_epochs, seed=seed)
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
        "error": error,
        "seconds": time.monotonic() - started,
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "images": {"train": len(x_train), "val": len(x_val)},
        "log_tail": log.getvalue()[-1000:] if error else "",
    }
