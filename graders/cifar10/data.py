"""CIFAR-10 loader: the official pickled batches first, the JPEG stand-in second, cached on disk.

Where it looks: an explicit ``path=`` argument (only there), otherwise ``$HW9_CIFAR10`` (a file
or a folder, relative paths from the current directory) and the Keras cache
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``). Among all those places the official
format wins over the JPEG archive, wherever each was found.

Formats: ``official`` is ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz`` (under any of
the names Keras gives its download); ``jpeg`` is ``train/<class>/*.jpg`` + ``test/<class>/*.jpg``
as a folder or a tar archive (gz, bz2, xz or plain), optionally under one top-level folder.

Decoded arrays are cached as an uncompressed ``.npz`` under ``$HW9_CACHE`` (default
``~/.cache/hw9-grader``), keyed by the source's path, sizes and mtimes.
"""
from __future__ import annotations

import argparse
import codecs
import io
import logging
import os
import pickle
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

from graders.cifar10 import array_cache
from graders.cifar10.tar_stream import iter_members

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
PATH_ENV = "HW9_CIFAR10"
CACHE_ENV = "HW9_CACHE"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL, JPEG = "official", "jpeg"

_BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_OFFICIAL_DIR = "cifar-10-batches-py"
# Keras 3.15 extracts to cifar-10-batches-py-target/ and keeps the download as
# cifar-10-batches-py-target_archive; Keras 2 used cifar-10-batches-py/ + .tar.gz.
_KNOWN_NAMES = ("cifar-10-batches-py", "cifar-10-batches-py-target",
                "cifar-10-batches-py-target_archive", "cifar-10-batches-py_archive",
                "cifar-10-batches-py.tar.gz", "cifar-10-python.tar.gz",
                "cifar10-jpeg.tar.xz", "cifar10-jpeg")
_SPLITS = ("train", "test")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_LABELS = {name: label for label, name in enumerate(CLASS_NAMES)}
_IMAGE_SHAPE = (32, 32, 3)
_CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test")
_CACHE_VERSION = 1
_DECODE_BATCH = 1024
_log = logging.getLogger(__name__)


class CIFAR10NotFoundError(FileNotFoundError):
    """No CIFAR-10 data in any of the places searched; the message lists them."""


# ---------------------------------------------------------------- locating
def _member_format(name):
    parts = PurePosixPath(name).parts
    if _OFFICIAL_DIR in parts or (parts and parts[-1] in _BATCH_NAMES):
        return OFFICIAL
    if _jpeg_key(name) is not None:
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
        if all((root / split).is_dir() for split in _SPLITS):
            return root
    return None


def _classify(path):
    """``(format, source)`` for one file or folder, or None."""
    if path.is_file():
        kind = _classify_archive(path)
        return (kind, path) if kind else None
    if not path.is_dir():
        return None
    for folder in (path, path / _OFFICIAL_DIR):
        if (folder / _BATCH_NAMES[0]).is_file():
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
        f"extracted {_OFFICIAL_DIR} folder, or the JPEG archive cifar10-jpeg.tar.xz; or run "
        "keras.datasets.cifar10.load_data() once to fill the Keras cache.")


# ---------------------------------------------------------------- official format
class _BatchUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and nothing else."""

    _ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
                ("_codecs", "encode"): codecs.encode}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return self._ALLOWED[(module, name)]


def _parse_batch(label, blob):
    try:
        batch = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as error:  # a malformed pickle can fail in many ways
        raise ValueError(f"{label}: not a CIFAR-10 batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{label}: expected a dict with b'data' and b'labels'")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{label}: b'data' must be uint8 of shape (N, 3072), "
                         f"got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"{label}: wrong image count: {labels.shape} labels for {len(data)} images")
    # Rows are channel-planar: 1024 red, 1024 green, 1024 blue values, each row-major 32x32.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int64)


def _load_official(source):
    if source.is_dir():
        blobs = {n: (source / n, (source / n).read_bytes())
                 for n in _BATCH_NAMES if (source / n).is_file()}
    else:  # only members named like a batch are ever unpickled
        members = iter_members(source, lambda n: PurePosixPath(n).name in _BATCH_NAMES)
        blobs = {PurePosixPath(n).name: (f"{source}:{n}", b) for n, b in members if b is not None}
    missing = [n for n in _BATCH_NAMES if n not in blobs]
    if missing:
        raise ValueError(f"{source}: missing batch files {missing}")
    batches = [_parse_batch(label, blob) for label, blob in (blobs[n] for n in _BATCH_NAMES)]
    x_train = np.concatenate([x for x, _ in batches[:5]])
    y_train = np.concatenate([y for _, y in batches[:5]])
    x_test, y_test = batches[5]
    return x_train, y_train, np.ascontiguousarray(x_test), y_test


# ---------------------------------------------------------------- JPEG format
def _jpeg_key(name):
    """``(split, class, file)`` of an image path ``.../train|test/<class>/<file>``, else None."""
    parts = [part for part in name.split("/") if part]  # str methods: called 60,000 times
    if len(parts) < 3 or parts[-3] not in _SPLITS or parts[-1].startswith("."):
        return None
    if not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
        return None
    return parts[-3], parts[-2], parts[-1]


def _decode_batch(source, batch):
    images = np.empty((len(batch), *_IMAGE_SHAPE), np.uint8)
    for i, (member, blob) in enumerate(batch):
        try:
            image = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            image = None
        if image is None:
            raise ValueError(f"{source}: {member} is not a decodable image")
        if image.shape != _IMAGE_SHAPE or image.dtype != np.uint8:
            raise ValueError(f"{source}: {member} decodes to {image.dtype} {image.shape}, "
                             f"expected uint8 {_IMAGE_SHAPE}")
        images[i] = image[:, :, ::-1]  # OpenCV decodes to BGR
    return images


def _decode_stream(source, entries):
    """``(names, images)`` of ``(name, bytes)`` pairs, in their order.

    Worker threads decode (cv2 releases the GIL) while this thread reads and decompresses.
    """
    names, batch, futures = [], [], []
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for name, blob in entries:
            names.append(name)
            batch.append((name, blob))
            if len(batch) == _DECODE_BATCH:
                futures.append(pool.submit(_decode_batch, source, batch))
                batch = []
        futures.append(pool.submit(_decode_batch, source, batch))
        images = np.concatenate([future.result() for future in futures])
    return names, images


def _jpeg_entries(source):
    """``(name, bytes)`` of every image of a JPEG-layout folder or archive."""
    if source.is_dir():
        names = sorted(p.relative_to(source).as_posix()
                       for split in _SPLITS for p in (source / split).glob("*/*") if p.is_file())
        members = ((name, (source / name).read_bytes()) for name in names if _jpeg_key(name))
    else:
        members = iter_members(source, lambda name: _jpeg_key(name) is not None)
    for name, blob in members:
        if blob is None:
            continue
        if _jpeg_key(name)[1] not in _LABELS:
            raise ValueError(f"{source}: {name} is in an unknown class folder, "
                             f"expected one of {list(CLASS_NAMES)}")
        yield name, blob


def _load_jpeg(source):
    names, images = _decode_stream(source, _jpeg_entries(source))
    keys = [_jpeg_key(name) for name in names]
    arrays = []
    for split in _SPLITS:
        index = sorted((i for i, key in enumerate(keys) if key[0] == split),
                       key=lambda i: (_LABELS[keys[i][1]], keys[i][2]))
        labels = np.array([_LABELS[keys[i][1]] for i in index], np.int64)
        empty = [CLASS_NAMES[c] for c in np.flatnonzero(np.bincount(labels, minlength=10) == 0)]
        if empty:
            raise ValueError(f"{source}: wrong image count: no {split} images for classes {empty}")
        arrays += [images[index], labels]
    return tuple(arrays)


# ---------------------------------------------------------------- cache and entry points
def _check_arrays(arrays, label):
    for split, x, y in (("train", *arrays[:2]), ("test", *arrays[2:])):
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != _IMAGE_SHAPE:
            raise ValueError(f"{label}: {split} images must be uint8 (N, 32, 32, 3), "
                             f"got {x.dtype} {x.shape}")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise ValueError(f"{label}: wrong image count: {split} labels {y.dtype} {y.shape} "
                             f"for {len(x)} images")
        if y.size and (y.min() < 0 or y.max() >= len(CLASS_NAMES)):
            raise ValueError(f"{label}: {split} labels outside 0..{len(CLASS_NAMES) - 1}")


def _cache_entry(kind, source):
    folder = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hw9-grader")
    return array_cache.entry_path(folder.expanduser().resolve(), "cifar10", source,
                                  salt=f"{_CACHE_VERSION}|{kind}")


def _read_cache(file):
    cached = array_cache.read(file, _CACHE_KEYS)
    if cached is None:
        return None
    arrays = tuple(cached[key] for key in _CACHE_KEYS)
    try:
        _check_arrays(arrays, file)
    except ValueError as error:
        _log.warning("ignoring cache with wrong contents (%s)", error)
        return None
    return arrays


def _load(path, cache):
    """``(arrays, format, source, cache note)``."""
    kind, source = find_cifar10(path)
    file = _cache_entry(kind, source) if cache else None
    arrays = _read_cache(file) if file else None
    if arrays is not None:
        return arrays, kind, source, f"read from cache {file}"
    arrays = _load_official(source) if kind == OFFICIAL else _load_jpeg(source)
    _check_arrays(arrays, source)
    if file:
        array_cache.write(file, dict(zip(_CACHE_KEYS, arrays)))
    return arrays, kind, source, f"cache written to {file}" if file else "cache disabled"


def load_cifar10(path=None, *, cache=True):
    """``(x_train, y_train), (x_test, y_test)``: uint8 ``(N, 32, 32, 3)`` RGB and int64 ``(N,)``.

    Raises :class:`CIFAR10NotFoundError` when nothing is found, ``ValueError`` naming the file
    when what is found is malformed. ``cache=False`` neither reads nor writes the cache.
    """
    (x_train, y_train, x_test, y_test), *_ = _load(path, cache)
    return (x_train, y_train), (x_test, y_test)


def train_val_split(x, y, n_train, n_val, seed=0):
    """Seeded, class-stratified split into disjoint ``(x, y)`` train and validation subsets.

    Every class contributes in proportion to its size (exactly ``n / 10`` per class when the
    labels are balanced and ``n`` is a multiple of 10); each subset comes back shuffled.
    ``y`` may be ``(N,)`` or Keras's ``(N, 1)``. Split the training set: never tune on the test set.
    """
    x, y = np.asarray(x), np.asarray(y)
    labels = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"y must have shape ({len(x)},) to match x, got y.shape={y.shape}")
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {name}={value!r}")
    if n_train + n_val > len(x):
        raise ValueError(f"n_train + n_val must be at most len(x)={len(x)}, "
                         f"got n_train={n_train}, n_val={n_val}")
    rng = np.random.default_rng(seed)
    position = np.empty(len(labels))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        # One offset per class, so with balanced classes every rank holds one sample of each.
        position[members] = (rng.permutation(len(members)) + rng.random()) / len(members)
    order = np.argsort(position, kind="stable")
    train = rng.permutation(order[:n_train])
    val = rng.permutation(order[n_train:n_train + n_val])
    return (x[train], y[train]), (x[val], y[val])


def main(argv=None):
    """``python -m graders.cifar10.data [PATH]``: where it looked, what it loaded, shapes and timing."""
    parser = argparse.ArgumentParser(prog="python -m graders.cifar10.data", description=main.__doc__)
    parser.add_argument("path", nargs="?", help=f"file or folder (default: ${PATH_ENV}, "
                        "then the Keras cache)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the decoded-array cache")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        arrays, kind, source, note = _load(args.path, cache=not args.no_cache)
    except (CIFAR10NotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    print("Searched:")
    for line in describe_search(args.path):
        print(f"  {line}")
    print(f"Loaded {kind} data from {source} in {time.perf_counter() - start:.2f} s ({note})")
    for split, x, y in (("train", *arrays[:2]), ("test", *arrays[2:])):
        means = x.reshape(-1, 3).mean(axis=0) / 255
        print(f"  {split}: x {x.shape} {x.dtype}, y {y.shape} {y.dtype}, "
              f"per class {np.bincount(y, minlength=len(CLASS_NAMES)).tolist()}, "
              f"RGB means {np.round(means, 4).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
