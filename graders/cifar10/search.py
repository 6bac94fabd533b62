"""Where CIFAR-10 lies and in which format: the places searched, in order, and what each holds.

Where it looks: an explicit ``path=`` argument (only there), otherwise ``$HW9_CIFAR10`` (a file
or a folder, relative paths from the current directory) and the Keras cache
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``). Among all those places the official
format wins over the JPEG archive, wherever each was found.

Formats: ``official`` is ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz`` (under any of
the names Keras gives its download); ``jpeg`` is ``train/<class>/*.jpg`` + ``test/<class>/*.jpg``
as a folder or a tar archive (gz, bz2, xz or plain), optionally under one top-level folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath

from graders.cifar10.tar_stream import iter_members

PATH_ENV = "HW9_CIFAR10"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL, JPEG = "official", "jpeg"
BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
OFFICIAL_DIR = "cifar-10-batches-py"
SPLITS = ("train", "test")

# Keras 3.15 extracts to cifar-10-batches-py-target/ and keeps the download as
# cifar-10-batches-py-target_archive; Keras 2 used cifar-10-batches-py/ + .tar.gz.
_KNOWN_NAMES = ("cifar-10-batches-py", "cifar-10-batches-py-target",
                "cifar-10-batches-py-target_archive", "cifar-10-batches-py_archive",
                "cifar-10-batches-py.tar.gz", "cifar-10-python.tar.gz",
                "cifar10-jpeg.tar.xz", "cifar10-jpeg")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class CIFAR10NotFoundError(FileNotFoundError):
    """No CIFAR-10 data in any of the places searched; the message lists them."""


def _member_format(name):
    parts = PurePosixPath(name).parts
    if OFFICIAL_DIR in parts or (parts and parts[-1] in BATCH_NAMES):
        return OFFICIAL
    if jpeg_key(name) is not None:
        return JPEG
    return None


def _classify_archive(path, max_members=64):
    try:
        for i, (name, _) in enumerate(iter_members(path, lambda _: False)):
            if _member_format(name) or i >= max_members:
                return _member_format(name)
    except (OSError, ValueError):
        return None
    return None


def _jpeg_root(folder):
    try:
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:  # an unreadable folder holds nothing we can load
        return None
    for root in [folder, *subfolders]:
        if all((root / split).is_dir() for split in SPLITS):
            return root
    return None


def _classify(path):
    """``(format, source)`` for one file or folder, or None."""
    if path.is_file():
        kind = _classify_archive(path)
        return (kind, path) if kind else None
    if not path.is_dir():
        return None
    for folder in (path, path / OFFICIAL_DIR):
        if (folder / BATCH_NAMES[0]).is_file():
            return OFFICIAL, folder
    root = _jpeg_root(path)
    return (JPEG, root) if root else None


def _keras_dataset_dirs():
    """The folders where ``keras.utils.get_file`` keeps downloads, as Keras chooses them."""
    if os.environ.get("KERAS_HOME"):
        base = Path(os.environ["KERAS_HOME"]).expanduser()
    elif os.access(Path.home(), os.W_OK):
        base = Path.home() / ".keras"
    else:
        base = Path(tempfile.gettempdir()) / ".keras"
    dirs = [base / "datasets"]
    if base.exists() and not os.access(base, os.W_OK):
        dirs.append(Path(tempfile.gettempdir()) / ".keras" / "datasets")
    return dirs


def _locations(path):
    """``(origin, path or None)`` of each place to search, in order."""
    if path is not None:
        return [("path argument", Path(path).expanduser().resolve())]
    env = os.environ.get(PATH_ENV)
    places = [(f"${PATH_ENV}={env}", Path(env).expanduser().resolve()) if env
              else (f"${PATH_ENV}", None)]
    return places + [("Keras cache", folder) for folder in _keras_dataset_dirs()]


def _scan(path):
    """``[(description, [(format, source), ...]), ...]`` for every place searched."""
    report = []
    for origin, place in _locations(path):
        if place is None:
            report.append((f"{origin}: not set", []))
            continue
        found = []
        candidates = [place] + ([place / n for n in _KNOWN_NAMES] if place.is_dir() else [])
        for candidate in candidates:
            hit = _classify(candidate)
            if hit and hit not in found:
                found.append(hit)
        if found:
            status = "; ".join(f"found {kind} at {source}" for kind, source in found)
        elif place.is_dir():
            status = f"nothing recognised in the folder or in its {', '.join(_KNOWN_NAMES)}"
        else:
            status = "not a CIFAR-10 archive" if place.exists() else "does not exist"
        report.append((f"{origin}: {place} ({status})", found))
    return report


def describe_search(path=None):
    """One line per place searched, in order, saying what was found there."""
    return [line for line, _ in _scan(path)]


def find_cifar10(path=None):
    """``(format, source)`` that :func:`load_cifar10` would load: official before JPEG."""
    report = _scan(path)
    for wanted in (OFFICIAL, JPEG):
        for _, found in report:
            for kind, source in found:
                if kind == wanted:
                    return kind, source
    places = "\n".join(f"  - {line}" for line, _ in report)
    raise CIFAR10NotFoundError(
        f"CIFAR-10 not found. Looked in:\n{places}\n"
        f"Fix: set {PATH_ENV} to the official cifar-10-python.tar.gz ({OFFICIAL_URL}), its "
        f"extracted {OFFICIAL_DIR} folder, or the JPEG archive cifar10-jpeg.tar.xz; or run "
        "keras.datasets.cifar10.load_data() once to fill the Keras cache.")


def jpeg_key(name):
    """``(split, class, file)`` of an image path ``.../train|test/<class>/<file>``, else None."""
    parts = [part for part in name.split("/") if part]  # str methods: called 60,000 times
    if len(parts) < 3 or parts[-3] not in SPLITS or parts[-1].startswith("."):
        return None
    if not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
        return None
    return parts[-3], parts[-2], parts[-1]
