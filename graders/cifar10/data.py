"""CIFAR-10 loader: the official pickled batches first, the JPEG stand-in second, cached on disk.

Where it looks and which format wins: :mod:`graders.cifar10.search`. Decoded arrays are cached
as an uncompressed ``.npz`` under ``$HW9_CACHE`` (default ``~/.cache/hw9-grader``), keyed by the
source's path, sizes and mtimes.
"""
from __future__ import annotations

import argparse
import codecs
import io
import logging
import os
import pickle
import sys
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
from graders.cifar10.search import (
    BATCH_NAMES,
    OFFICIAL,
    PATH_ENV,
    SPLITS,
    CIFAR10NotFoundError,
    describe_search,
    find_cifar10,
    jpeg_key,
)
from graders.cifar10.tar_stream import iter_members

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
CACHE_ENV = "HW9_CACHE"
_LABELS = {name: label for label, name in enumerate(CLASS_NAMES)}
_IMAGE_SHAPE = (32, 32, 3)
_CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test")
_CACHE_VERSION = 1
_DECODE_BATCH = 1024
_log = logging.getLogger(__name__)


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
                 for n in BATCH_NAMES if (source / n).is_file()}
    else:  # only members named like a batch are ever unpickled
        members = iter_members(source, lambda n: PurePosixPath(n).name in BATCH_NAMES)
        blobs = {PurePosixPath(n).name: (f"{source}:{n}", b) for n, b in members if b is not None}
    missing = [n for n in BATCH_NAMES if n not in blobs]
    if missing:
        raise ValueError(f"{source}: missing batch files {missing}")
    batches = [_parse_batch(label, blob) for label, blob in (blobs[n] for n in BATCH_NAMES)]
    x_train = np.concatenate([x for x, _ in batches[:5]])
    y_train = np.concatenate([y for _, y in batches[:5]])
    x_test, y_test = batches[5]
    return x_train, y_train, np.ascontiguousarray(x_test), y_test


# ---------------------------------------------------------------- JPEG format
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
                       for split in SPLITS for p in (source / split).glob("*/*") if p.is_file())
        members = ((name, (source / name).read_bytes()) for name in names if jpeg_key(name))
    else:
        members = iter_members(source, lambda name: jpeg_key(name) is not None)
    for name, blob in members:
        if blob is None:
            continue
        if jpeg_key(name)[1] not in _LABELS:
            raise ValueError(f"{source}: {name} is in an unknown class folder, "
                             f"expected one of {list(CLASS_NAMES)}")
        yield name, blob


def _load_jpeg(source):
    names, images = _decode_stream(source, _jpeg_entries(source))
    keys = [jpeg_key(name) for name in names]
    arrays = []
    for split in SPLITS:
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
