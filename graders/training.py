"""Judge side of the Q3 training checks: CIFAR-10 folders for the worker, and the tuner report.

The worker gets its data as a path to a folder of uncompressed `.npy` files (never through
the pipe). The validation split is held out of the TRAINING set with a fixed seed; the test
set is never used for tuning, and its labels never enter the worker: the judge scores the
worker's predictions itself.
"""
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solutions import data

SPLIT_SEED = 0
CHANCE_ACCURACY = 0.1  # ten balanced classes
_CHUNK = 4096  # images scaled per step: no second full float32 copy in memory
HP_COLUMNS = ("conv_layers", "filters", "dense_layers", "units", "lr", "optimizer")
TUNER_COLUMNS = ("tuner/bracket", "tuner/round", "tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")


@dataclass(frozen=True)
class DataFolder:
    """A folder of `{split}_x.npy` (float32 in [0, 1]) and `{split}_y.npy` (int64) for a worker."""

    folder: Path
    sizes: dict  # split -> number of images
    val_labels: np.ndarray
    test_labels: np.ndarray | None  # kept by the judge only: no test_y.npy is written
    source: str

    def describe(self):
        sizes = ", ".join(f"{split} {count:,}" for split, count in self.sizes.items())
        return f"CIFAR-10 from {self.source} ({sizes}; validation held out of the training set, seed {SPLIT_SEED})"


def cifar10_missing_reason(path=None):
    """None when CIFAR-10 can be found, else the loader's message listing where it looked."""
    try:
        data.find_cifar10(path)
    except data.CIFAR10NotFoundError as error:
        return str(error)
    return None


def _write_scaled(path, images):
    """Save uint8 images as float32 in [0, 1], chunk by chunk, as a plain `.npy` file."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=images.shape)
    for start in range(0, len(images), _CHUNK):
        np.divide(images[start : start + _CHUNK], np.float32(255), out=out[start : start + _CHUNK], dtype=np.float32)
    out.flush()
    del out


def prepare_data_folder(folder, n_train, n_val, with_test=False, path=None, seed=SPLIT_SEED):
    """Write the worker's arrays into `folder`; `n_train=None` takes all the training set left.

    Raises `solutions.data.CIFAR10NotFoundError` when no CIFAR-10 is found.
    """
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(path)
    if n_train is None:
        n_train = len(x_train) - n_val
    (x_fit, y_fit), (x_val, y_val) = data.train_val_split(x_train, y_train, n_train, n_val, seed=seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": (x_fit, y_fit), "val": (x_val, y_val)}
    for split, (images, labels) in splits.items():
        _write_scaled(folder / f"{split}_x.npy", images)
        np.save(folder / f"{split}_y.npy", labels, allow_pickle=False)
    sizes = {"train": len(x_fit), "val": len(x_val)}
    if with_test:
        _write_scaled(folder / "test_x.npy", x_test)
        sizes["test"] = len(x_test)
    kind, source = data.find_cifar10(path)
    return DataFolder(folder, sizes, y_val, y_test if with_test else None, f"{source} ({kind})")


def accuracy(predictions, labels):
    """Fraction of predicted classes equal to the labels, computed by the judge."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions must have shape {labels.shape}, got predictions.shape={predictions.shape}")
    return float(np.mean(predictions == labels))


def learning_mistake(trained, best_values=None):
    """Why a trained model did not learn, from the worker's training summary, or None."""
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
    if lr is not None and wanted is not None and not math.isclose(lr, wanted, rel_tol=1e-6):
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


def search_summary(search):
    """Best hyperparameters, best score, trial counts and time: the text for the grade report."""
    trials = search["trials"]
    completed = sum(trial["status"] == "COMPLETED" for trial in trials)
    best = search.get("best")
    lines = [f"{len(trials)} trials ({completed} completed) in {search['seconds']:.1f} s, max_epochs={search['max_epochs']}"]
    if best:
        lines.append(f"best val_accuracy {best['score']:.4f} (trial {best['trial_id']}) with {best['values']}")
    else:
        lines.append("no completed trial, so no best hyperparameters")
    return "\n".join(lines)
