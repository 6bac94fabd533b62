"""Judge side of the Q3 training checks: CIFAR-10 folders for the worker, scores, and the tuner report.

The worker gets its data as a path to a folder of uncompressed `.npy` files (never through
the pipe). Two splits are held out of the TRAINING set with a fixed seed: a labelled
validation split the model and the tuner may use while they train, and a `holdout` split
whose labels never enter the worker's folder, nor do the test set's. Every score a check
uses is the judge's accuracy on the worker's predictions for a label-less split; the test
set is never used for tuning.
"""
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graders.cifar10 import data
from graders.cifar10.search import CIFAR10NotFoundError, find_cifar10
from graders.judge import answers

SPLIT_SEED = 0
CLASSES = 10
CHANCE_ACCURACY = 0.1  # ten balanced classes
_CHUNK = 4096  # images scaled per step: no second full float32 copy in memory
HP_COLUMNS = ("conv_layers", "filters", "dense_layers", "units", "lr", "optimizer")
TUNER_COLUMNS = ("tuner/bracket", "tuner/round", "tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")


@dataclass(frozen=True)
class DataFolder:
    """A folder of `{split}_x.npy` (float32 in [0, 1]) for a worker, with `{split}_y.npy` (int64) for train and val only."""

    folder: Path
    sizes: dict  # split -> number of images
    holdout_labels: np.ndarray | None  # kept by the judge only: no holdout_y.npy is written
    test_labels: np.ndarray | None  # kept by the judge only: no test_y.npy is written
    source: str

    def describe(self):
        sizes = ", ".join(f"{split} {count:,}" for split, count in self.sizes.items())
        return f"CIFAR-10 from {self.source} ({sizes}; val and holdout held out of the training set, seed {SPLIT_SEED}; holdout and test labels kept by the judge)"


def cifar10_missing_reason(path=None):
    """None when CIFAR-10 can be found, else the loader's message listing where it looked."""
    try:
        find_cifar10(path)
    except CIFAR10NotFoundError as error:
        return str(error)
    return None


def _write_scaled(path, images):
    """Save uint8 images as float32 in [0, 1], chunk by chunk, as a plain `.npy` file."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=images.shape)
    for start in range(0, len(images), _CHUNK):
        np.divide(images[start : start + _CHUNK], np.float32(255), out=out[start : start + _CHUNK], dtype=np.float32)
    out.flush()
    del out


def _readable_by_others(folder):
    """The worker may run as a uid of its own: it must be able to read the folder, not write it."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def split_indices(labels, n_train, n_val, n_holdout, seed=SPLIT_SEED):
    """Disjoint, class-stratified index arrays (train, val, holdout) of a labelled set.

    Train and holdout are the split `train_val_split(n_train, n_holdout)` makes, so the
    holdout images are those an earlier validation split of that size held; val comes from
    the rest.
    """
    indices = np.arange(len(labels))
    if n_train is None:
        n_train = len(labels) - n_val - n_holdout
    (train, _), (holdout, _) = data.train_val_split(indices, labels, n_train, n_holdout, seed=seed)
    rest = np.setdiff1d(indices, np.concatenate([train, holdout]))
    (val, _), _ = data.train_val_split(rest, np.asarray(labels)[rest], n_val, 0, seed=seed)
    return train, val, holdout


def prepare_data_folder(folder, n_train, n_val, n_holdout=0, with_test=False, path=None, seed=SPLIT_SEED):
    """Write the worker's arrays into `folder`; `n_train=None` takes all the training set left.

    Labels are written for the train and val splits only. Raises
    `graders.cifar10.search.CIFAR10NotFoundError` when no CIFAR-10 is found.
    """
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(path)
    y_train = np.asarray(y_train).reshape(-1)
    train, val, holdout = split_indices(y_train, n_train, n_val, n_holdout, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split, indices, labelled in (("train", train, True), ("val", val, True), ("holdout", holdout, False)):
        if len(indices) or split == "train":
            _write_scaled(folder / f"{split}_x.npy", x_train[indices])
            if labelled:
                np.save(folder / f"{split}_y.npy", y_train[indices], allow_pickle=False)
            sizes[split] = len(indices)
    if with_test:
        _write_scaled(folder / "test_x.npy", x_test)
        sizes["test"] = len(x_test)
    _readable_by_others(folder)
    kind, source = find_cifar10(path)
    holdout_labels = y_train[holdout] if len(holdout) else None
    return DataFolder(folder, sizes, holdout_labels, np.asarray(y_test).reshape(-1) if with_test else None, f"{source} ({kind})")


def accuracy(predictions, labels):
    """Fraction of predicted classes equal to the labels, computed by the judge."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions must have shape {labels.shape}, got predictions.shape={predictions.shape}")
    return float(np.mean(predictions == labels))


def predicted_classes(probabilities, labels, where):
    """The classes a worker's raw (N, 10) outputs predict for a split with these labels; Malformed otherwise."""
    array = answers.array(probabilities, where, shape=(len(labels), CLASSES))
    return np.argmax(np.nan_to_num(array.astype(np.float64), nan=-np.inf), axis=-1)


def output_summary(probabilities):
    """What the model's outputs look like: probabilities are >= 0 and sum to 1 per row."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    sums = probabilities.sum(axis=-1)
    finite = np.isfinite(probabilities).all()
    return {
        "min": float(np.nanmin(probabilities)) if np.isfinite(probabilities).any() else float("nan"),
        "row_sum_min": float(np.nanmin(sums)) if np.isfinite(sums).any() else float("nan"),
        "row_sum_max": float(np.nanmax(sums)) if np.isfinite(sums).any() else float("nan"),
        "finite": bool(finite),
    }


def _history(value, where):
    """{metric: [one number per epoch]}: NaN stays (a loss that diverged), every metric as long as the others."""
    history = answers.mapping(value, where)
    curves = {str(key): [answers.number(item, f"{where}[{key!r}]") for item in answers.sequence(items, f"{where}[{key!r}]")] for key, items in history.items()}
    if len({len(curve) for curve in curves.values()}) > 1:
        raise answers.Malformed(f"{where} has curves of different lengths")
    return curves


def _tuner_values(value, where):
    """The trial's `tuner/...` hyperparameters: ints, the parent trial's id a string."""
    answers.mapping(value, where)
    return {key: answers.string(value[key], f"{where}[{key!r}]", optional=True) if key == "tuner/trial_id" else answers.integer(value[key], f"{where}[{key!r}]", optional=True) for key in value}


def read_trained(answer, splits):
    """The `train_best` answer with its structure checked: history, learning rate, values, outputs per split."""
    answers.mapping(answer, "answer", required=("values", "history", "fit_seconds", "train_images", "learning_rate", "probabilities"))
    probabilities = answers.mapping(answer["probabilities"], "answer['probabilities']", required=splits)
    return {
        "values": answers.plain(answers.mapping(answer["values"], "answer['values']"), "answer['values']"),
        "history": _history(answer["history"], "answer['history']"),
        "fit_seconds": answers.number(answer["fit_seconds"], "answer['fit_seconds']", finite=True),
        "train_images": answers.integer(answer["train_images"], "answer['train_images']", minimum=0),
        "learning_rate": answers.number(answer["learning_rate"], "answer['learning_rate']", optional=True),
        "probabilities": {split: answers.array(probabilities[split], f"answer['probabilities'][{split!r}]", ndim=2) for split in splits},
    }


def _trial(row, where):
    answers.mapping(row, where, required=("trial_id", "status", "score", "values", "tuner", "seconds", "error"))
    return {
        "trial_id": answers.string(row["trial_id"], f"{where}['trial_id']"),
        "status": answers.string(row["status"], f"{where}['status']"),
        "score": answers.number(row["score"], f"{where}['score']", optional=True, finite=True),
        "best_step": answers.plain(row.get("best_step"), f"{where}['best_step']"),
        "values": answers.plain(answers.mapping(row["values"], f"{where}['values']"), f"{where}['values']"),
        "tuner": _tuner_values(row["tuner"], f"{where}['tuner']"),
        "seconds": answers.number(row["seconds"], f"{where}['seconds']", optional=True, finite=True),
        "error": answers.string(row["error"], f"{where}['error']"),
    }


def read_search(answer, splits):
    """The `search` answer with its structure checked: trials, the tuner's best trial, its model's outputs."""
    answers.mapping(answer, "answer", required=("trials", "best", "best_model_probabilities", "best_model_error", "error", "seconds", "max_epochs"))
    best = answer["best"]
    if best is not None:
        answers.mapping(best, "answer['best']", required=("trial_id", "score", "values"))
        best = {"trial_id": answers.string(best["trial_id"], "answer['best']['trial_id']"), "score": answers.number(best["score"], "answer['best']['score']", finite=True),
                "values": answers.plain(answers.mapping(best["values"], "answer['best']['values']"), "answer['best']['values']")}
    probabilities = answer["best_model_probabilities"]
    if probabilities is not None:
        answers.mapping(probabilities, "answer['best_model_probabilities']", required=splits)
        probabilities = {split: answers.array(probabilities[split], f"answer['best_model_probabilities'][{split!r}]", ndim=2) for split in splits}
    return {
        "trials": [_trial(row, f"answer['trials'][{index}]") for index, row in enumerate(answers.sequence(answer["trials"], "answer['trials']"))],
        "best": best,
        "best_model_probabilities": probabilities,
        "best_model_error": answers.string(answer["best_model_error"], "answer['best_model_error']"),
        "error": answers.string(answer["error"], "answer['error']"),
        "seconds": answers.number(answer["seconds"], "answer['seconds']", finite=True),
        "max_epochs": answers.plain(answer["max_epochs"], "answer['max_epochs']"),
    }


def learning_mistake(trained, best_values=None):
    """Why a trained model did not learn, from its history, learning rate and output summary, or None."""
    losses = trained["history"].get("loss", [])
    outputs = trained["outputs"]
    if losses and not all(math.isfinite(loss) for loss in losses):
        return "the training loss became NaN/inf (outputs that are not probabilities, or a learning rate far too large)"
    if outputs["min"] < -1e-6 or abs(outputs["row_sum_min"] - 1) > 1e-3 or abs(outputs["row_sum_max"] - 1) > 1e-3:
        return (
            "the model's outputs are not probabilities (rows sum to "
            f"{outputs['row_sum_min']:.3g}..{outputs['row_sum_max']:.3g}, min {outputs['min']:.3g}): "
            "the final Dense(10) needs activation='softmax' under sparse_categorical_crossentropy"
        )
    lr = trained.get("learning_rate")
    wanted = (best_values or {}).get("lr")
    if lr is not None and isinstance(wanted, (int, float)) and not math.isclose(lr, wanted, rel_tol=1e-6):
        return f"the optimizer trains with learning rate {lr:g}, not the lr={wanted:g} of the hyperparameters"
    if len(losses) >= 2 and losses[-1] > 0.95 * losses[0]:
        return f"the training loss barely moved ({losses[0]:.4f} -> {losses[-1]:.4f}): the model does not learn (learning rate far too small?)"
    return None


def history_lines(history):
    """One line per epoch of a Keras history dict."""
    keys = [key for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in history]
    epochs = len(history[keys[0]]) if keys else 0
    return [f"epoch {epoch + 1}: " + ", ".join(f"{key} {history[key][epoch]:.4f}" for key in keys) for epoch in range(epochs)]


# ---------------------------------------------------------------- tuner report
def trial_rows(search):
    """Flat rows (one per trial, in run order) of a search result from the worker."""
    rows = []
    for trial in search["trials"]:
        row = {"trial": trial["trial_id"], "status": trial["status"], "score": trial["score"]}
        row.update({name: trial["values"].get(name) for name in HP_COLUMNS})
        row.update({column: trial["tuner"].get(column) for column in TUNER_COLUMNS})
        row["seconds"] = None if trial["seconds"] is None else round(trial["seconds"], 2)
        rows.append(row)
    return rows


def format_trials(search):
    """The trials table as fixed-width text."""
    rows = trial_rows(search)
    if not rows:
        return "(no trials)"
    columns = list(rows[0])
    headers = [column.removeprefix("tuner/") for column in columns]
    shown = [[_cell(row[column]) for column in columns] for row in rows]
    widths = [max(len(header), *(len(line[i]) for line in shown)) for i, header in enumerate(headers)]
    lines = ["  ".join(header.rjust(width) for header, width in zip(headers, widths))]
    lines += ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in shown]
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_so_far(scores):
    """Running maximum of the scores, ignoring trials without one (None)."""
    best, running = None, []
    for score in scores:
        if score is not None and (best is None or score > best):
            best = score
        running.append(best)
    return running


def write_trials_csv(search, path):
    rows = trial_rows(search)
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)


def plot_trials(search, path, title, floor=None):
    """PNG: validation accuracy per trial (marker per Hyperband bracket), best-so-far line, chance, floor."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = trial_rows(search)
    numbers = list(range(1, len(rows) + 1))
    figure, axes = pyplot.subplots(figsize=(max(6.0, 0.28 * len(rows) + 3), 4.2), dpi=120)
    markers = "os^Dv<>p"
    for bracket in sorted({row["tuner/bracket"] for row in rows if row["tuner/bracket"] is not None}):
        points = [(n, row["score"]) for n, row in zip(numbers, rows) if row["tuner/bracket"] == bracket and row["score"] is not None]
        if points:
            axes.scatter(*zip(*points), marker=markers[bracket % len(markers)], s=36, zorder=3, label=f"bracket {bracket}")
    failed = [n for n, row in zip(numbers, rows) if row["status"] != "COMPLETED"]
    if failed:
        axes.scatter(failed, [0.0] * len(failed), marker="x", color="red", s=50, zorder=3, label="failed trial")
    running = best_so_far([row["score"] for row in rows])
    axes.step(numbers, [np.nan if value is None else value for value in running], where="post", color="black", linewidth=1.5, label="best so far")
    axes.axhline(CHANCE_ACCURACY, color="grey", linestyle="--", linewidth=1, label="chance (0.1)")
    if floor is not None:
        axes.axhline(floor, color="tab:red", linestyle=":", linewidth=1.2, label=f"check's floor ({floor})")
    for n, row in zip(numbers, rows):
        if row["score"] is not None:
            axes.annotate(f"{row['tuner/epochs']}", (n, row["score"]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7, color="dimgrey")
    axes.set_xlabel("trial, in run order (number above a point: epochs it reached)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(title, fontsize=10)
    axes.set_xticks(numbers if len(numbers) <= 40 else numbers[:: max(1, len(numbers) // 20)])
    top = max([row["score"] for row in rows if row["score"] is not None] + [floor or CHANCE_ACCURACY], default=CHANCE_ACCURACY)
    axes.set_ylim(0, min(1.0, top + 0.1))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def write_tuner_report(search, folder, name, title, floor=None):
    """Write `<name>-trials.csv` and `<name>-trials.png` into `folder`; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = folder / f"{name}-trials.csv", folder / f"{name}-trials.png"
    write_trials_csv(search, csv_path)
    plot_trials(search, png_path, title, floor)
    return csv_path, png_path


def search_summary(search, best_model_accuracy=None, split="holdout"):
    """Best hyperparameters, best score, trial counts and time: the text for the grade report.

    `best_model_accuracy` is the judge's score of the tuner's best model on the label-less
    `split`; the tuner's own val_accuracy is shown beside it, for information.
    """
    trials = search["trials"]
    completed = sum(trial["status"] == "COMPLETED" for trial in trials)
    best = search.get("best")
    lines = [f"{len(trials)} trials ({completed} completed) in {search['seconds']:.1f} s, max_epochs={search['max_epochs']}"]
    if best:
        lines.append(f"best val_accuracy {best['score']:.4f} (trial {best['trial_id']}) with {best['values']}")
    else:
        lines.append("no completed trial, so no best hyperparameters")
    if best_model_accuracy is not None:
        lines.append(f"the tuner's best model on the {split} images: accuracy {best_model_accuracy:.4f} (scored by the judge)")
    return "\n".join(lines)
