"""The CIFAR-10 loader's cache, the train/validation split, its command line, and the real archive when CI provides it."""
import os

import numpy as np
import pytest

from graders.cifar10 import data
from graders.cifar10.data import (
    load_cifar10,
    main,
    train_val_split,
)
from tests.cifar10_helpers import (
    assert_jpeg_arrays,
    isolate,
    jpeg_archive,
)

# Read before the autouse fixture clears them: CI points these at the real archive and cache.
REAL_ARCHIVE = os.environ.get("HW9_CIFAR10")
OUTER_CACHE = os.environ.get("HW9_CACHE")
# Per-channel means of the official training and test sets in [0, 1].
OFFICIAL_TRAIN_MEANS = (0.4914, 0.4822, 0.4465)
OFFICIAL_TEST_MEANS = (0.4942, 0.4851, 0.4504)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch)


# ---------------------------------------------------------------- cache
def _count_loads(monkeypatch):
    calls = []
    real = data._load_jpeg
    monkeypatch.setattr(data, "_load_jpeg", lambda source: calls.append(source) or real(source))
    return calls


def _cache_files(tmp_path):
    return sorted((tmp_path / "cache").glob("*.npz"))


def test_cache_hit_returns_identical_arrays_without_decoding(tmp_path, monkeypatch):
    archive, expected = jpeg_archive(tmp_path)
    calls = _count_loads(monkeypatch)
    first = load_cifar10(archive)
    second = load_cifar10(archive)
    assert len(calls) == 1 and len(_cache_files(tmp_path)) == 1
    assert_jpeg_arrays(second, expected)
    for got, want in zip(second, first):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_changed_source_replaces_its_cache_file(tmp_path, monkeypatch):
    archive, _ = jpeg_archive(tmp_path)
    calls = _count_loads(monkeypatch)
    load_cifar10(archive)
    old = _cache_files(tmp_path)
    os.utime(archive, ns=(0, archive.stat().st_mtime_ns + 10**9))
    load_cifar10(archive)
    assert len(calls) == 2
    assert len(_cache_files(tmp_path)) == 1 and _cache_files(tmp_path) != old


CACHE_CORRUPTIONS = {
    "garbage": lambda file: file.write_bytes(b"\x00garbage" * 10),
    "truncated": lambda file: file.write_bytes(file.read_bytes()[: file.stat().st_size // 2]),
    "wrong-dtype": lambda file: np.savez(file, x_train=np.zeros((1, 32, 32, 3)),
                                         y_train=np.zeros(1, np.int64),
                                         x_test=np.zeros((1, 32, 32, 3)), y_test=np.zeros(1)),
}


@pytest.mark.parametrize("corrupt", CACHE_CORRUPTIONS.values(), ids=CACHE_CORRUPTIONS.keys())
def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path, monkeypatch, corrupt):
    archive, expected = jpeg_archive(tmp_path)
    load_cifar10(archive)
    [cache_file] = _cache_files(tmp_path)
    corrupt(cache_file)
    calls = _count_loads(monkeypatch)
    assert_jpeg_arrays(load_cifar10(archive), expected)
    assert len(calls) == 1
    with np.load(cache_file, allow_pickle=False) as rebuilt:
        np.testing.assert_array_equal(rebuilt["y_train"], expected[0][1])


def test_cache_false_neither_reads_nor_writes(tmp_path):
    archive, expected = jpeg_archive(tmp_path)
    assert_jpeg_arrays(load_cifar10(archive, cache=False), expected)
    assert _cache_files(tmp_path) == []


# ---------------------------------------------------------------- train/validation split
def test_split_is_stratified_disjoint_and_seeded():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat(np.arange(10), 50))
    x = np.arange(len(y))  # x[i] = i, to check that (x, y) pairs stay together
    for seed in range(10):
        (_, y_train), (_, y_val) = train_val_split(x, y, 200, 100, seed=seed)
        np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [20] * 10)
        np.testing.assert_array_equal(np.bincount(y_val, minlength=10), [10] * 10)
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, 200, 100, seed=1)
    assert not set(x_train) & set(x_val)
    np.testing.assert_array_equal(y_train, y[x_train])
    np.testing.assert_array_equal(y_val, y[x_val])
    again = train_val_split(x, y, 200, 100, seed=1)
    np.testing.assert_array_equal(again[0][0], x_train)
    other = train_val_split(x, y, 200, 100, seed=2)
    assert not np.array_equal(other[0][0], x_train)
    assert not np.array_equal(np.sort(x_train), x_train)  # shuffled, not in index order


def test_split_follows_class_proportions_and_keeps_keras_label_shape():
    y = np.repeat(np.arange(3), [300, 200, 100])[:, None]
    x = np.zeros((600, 2, 2, 3), np.uint8)
    y_before = y.copy()
    (_, y_train), (_, y_val) = train_val_split(x, y, 60, 300, seed=0)
    assert y_train.shape == (60, 1) and y_val.shape == (300, 1)
    np.testing.assert_allclose(np.bincount(y_train[:, 0]), [30, 20, 10], rtol=0, atol=2)
    np.testing.assert_allclose(np.bincount(y_val[:, 0]), [150, 100, 50], rtol=0, atol=2)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize(("n_train", "n_val", "match"), [
    (8, 3, "n_train \\+ n_val must be at most len\\(x\\)=10, got n_train=8, n_val=3"),
    (-1, 2, "n_train must be a non-negative int, got n_train=-1"),
    (2, 1.5, "n_val must be a non-negative int, got n_val=1.5"),
    (True, 2, "n_train must be a non-negative int, got n_train=True"),
], ids=["too-many", "negative", "float", "bool"])
def test_split_rejects_bad_sizes(n_train, n_val, match):
    with pytest.raises(ValueError, match=match):
        train_val_split(np.zeros(10), np.zeros(10, int), n_train, n_val, seed=0)


def test_split_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="y must have shape \\(10,\\) to match x, got y.shape=\\(9,\\)"):
        train_val_split(np.zeros(10), np.zeros(9, int), 2, 2, seed=0)


# ---------------------------------------------------------------- command line
def test_main_prints_what_it_found_and_the_shapes(tmp_path, capsys):
    archive, _ = jpeg_archive(tmp_path)
    assert main([str(archive)]) == 0
    out = capsys.readouterr().out
    assert f"Loaded jpeg data from {archive}" in out
    assert "train: x (20, 32, 32, 3) uint8, y (20,) int64, per class [2, 2, 2" in out
    assert main([str(tmp_path / "missing")]) == 1
    assert "CIFAR-10 not found. Looked in:" in capsys.readouterr().err


# ---------------------------------------------------------------- the real data set
def test_real_cifar10_archive(monkeypatch):
    if not REAL_ARCHIVE:
        pytest.skip("HW9_CIFAR10 is not set (CI sets it to ../shared/data/cifar10-jpeg.tar.xz)")
    if not os.path.exists(REAL_ARCHIVE):
        pytest.skip(f"HW9_CIFAR10={REAL_ARCHIVE} does not exist (relative to {os.getcwd()})")
    monkeypatch.setenv("HW9_CIFAR10", REAL_ARCHIVE)
    if OUTER_CACHE:
        monkeypatch.setenv("HW9_CACHE", OUTER_CACHE)
    (x_train, y_train), (x_test, y_test) = load_cifar10(cache=bool(OUTER_CACHE))
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.shape == (50000,) and y_test.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [1000] * 10)
    # The data README says the JPEG copy's pixel means match the official set to within 0.05;
    # measured: 0.4913/0.4821/0.4465 (train). 0.005 also catches swapped R and B (0.045 apart).
    train_means = x_train.reshape(-1, 3).mean(axis=0) / 255
    test_means = x_test.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(train_means, OFFICIAL_TRAIN_MEANS, rtol=0, atol=0.005)
    np.testing.assert_allclose(test_means, OFFICIAL_TEST_MEANS, rtol=0, atol=0.005)
