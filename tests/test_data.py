"""The CIFAR-10 loader on tiny archives built here, and on the real archive when CI provides it."""
import io
import os
import pickle
import tarfile

import cv2
import numpy as np
import pytest

from graders.cifar10 import data
from graders.cifar10.data import (
    CLASS_NAMES,
    OFFICIAL_URL,
    CIFAR10NotFoundError,
    describe_search,
    find_cifar10,
    load_cifar10,
    main,
    train_val_split,
)
from graders.cifar10.tar_stream import iter_members

# Read before the autouse fixture clears them: CI points these at the real archive and cache.
REAL_ARCHIVE = os.environ.get("HW9_CIFAR10")
OUTER_CACHE = os.environ.get("HW9_CACHE")

BATCH_SIZES = (3, 2, 4, 1, 2)  # the loader takes any N per batch; the real N only on real data
TEST_SIZE = 3
TRAIN_PER_CLASS, TEST_PER_CLASS = 2, 1
# Quality 100 without chroma subsampling: solid 16x16 blocks come back within a few levels.
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 100,
               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
JPEG_ATOL = 3
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# Per-channel means of the official training and test sets in [0, 1].
OFFICIAL_TRAIN_MEANS = (0.4914, 0.4822, 0.4465)
OFFICIAL_TEST_MEANS = (0.4942, 0.4851, 0.4504)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HW9_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HW9_CIFAR10", raising=False)


def keras_datasets(tmp_path):
    return tmp_path / "keras" / "datasets"


# ---------------------------------------------------------------- official-format fixtures
def planar_rows(n, offset):
    """Rows of 3072 values with no symmetry: a transposed or channel-swapped read shows."""
    return ((np.arange(n)[:, None] * 7 + np.arange(3072) * 13 + offset) % 251).astype(np.uint8)


def hwc_from_planar(rows):
    """Pixel (h, w) of channel c is value c*1024 + h*32 + w of the row."""
    n, h, w, c = np.indices((len(rows), 32, 32, 3))
    return rows[n, c * 1024 + h * 32 + w]


def legacy_pickle(obj):
    """Pickle as the official files are: protocol 2, arrays rebuilt by numpy.core.multiarray."""
    blob = pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in blob
    return blob


def write_official(folder):
    """data_batch_1..5 + test_batch in the official dict layout; returns the expected arrays."""
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    rows, labels = [], []
    for k, (name, n) in enumerate(zip(names, (*BATCH_SIZES, TEST_SIZE))):
        rows.append(planar_rows(n, offset=40 * k))
        labels.append([(3 * i + k) % 10 for i in range(n)])
        batch = {b"batch_label": name.encode(), b"labels": labels[-1], b"data": rows[-1],
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
        (folder / name).write_bytes(legacy_pickle(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": CLASS_NAMES}))
    train = hwc_from_planar(np.concatenate(rows[:5])), np.concatenate(labels[:5])
    return train, (hwc_from_planar(rows[5]), np.array(labels[5]))


def make_tar(archive, members, mode="w:gz", tar_format=tarfile.PAX_FORMAT):
    """``members``: {name in the archive: file or folder on disk}."""
    with tarfile.open(archive, mode, format=tar_format) as tar:
        for name, path in members.items():
            tar.add(path, arcname=name)
    return archive


def assert_same_arrays(actual, expected):
    for got, want in zip(actual, expected):
        for got_array, want_array, dtype in zip(got, want, (np.uint8, np.int64)):
            assert got_array.dtype == dtype
            np.testing.assert_array_equal(got_array, want_array)


# ---------------------------------------------------------------- JPEG-layout fixtures
def jpeg_image(label, index):
    """Red, green and blue quadrants; the fourth a grey level that encodes label and index."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[:16, :16], image[:16, 16:], image[16:, :16] = RED, GREEN, BLUE
    image[16:, 16:] = 10 + 20 * label + 8 * index
    return image


def write_jpeg_tree(root):
    """``train/<class>/NNNN.jpg`` + ``test/...``, files written out of order; expected arrays."""
    expected = []
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        images, labels = [], []
        for label, name in enumerate(CLASS_NAMES):
            (root / split / name).mkdir(parents=True)
            for index in reversed(range(per_class)):
                ok, blob = cv2.imencode(".jpg", jpeg_image(label, index)[:, :, ::-1],
                                        JPEG_PARAMS)
                assert ok
                (root / split / name / f"{index:04d}.jpg").write_bytes(blob.tobytes())
            images += [jpeg_image(label, index) for index in range(per_class)]
            labels += [label] * per_class
        expected.append((np.stack(images), np.array(labels)))
    return tuple(expected)


def jpeg_archive(tmp_path, mode="w:xz", top="CIFAR-10-images", tar_format=tarfile.PAX_FORMAT):
    """The tree as a tar archive, its files in reverse order: the loader must sort them."""
    tree = tmp_path / "jpeg-tree"
    expected = write_jpeg_tree(tree)
    files = sorted((p for p in tree.rglob("*.jpg")), reverse=True)
    members = {(f"{top}/" if top else "") + p.relative_to(tree).as_posix(): p for p in files}
    return make_tar(tmp_path / "cifar10-jpeg.tar.xz", members, mode, tar_format), expected


def assert_jpeg_arrays(actual, expected):
    for (x, y), (want_x, want_y) in zip(actual, expected):
        assert x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_allclose(x.astype(int), want_x.astype(int), rtol=0, atol=JPEG_ATOL)
        np.testing.assert_array_equal(y, want_y)
        # Red stays red: OpenCV decodes to BGR, the loader must return RGB.
        np.testing.assert_allclose(x[:, 4, 4].astype(int), np.tile(RED, (len(x), 1)),
                                   rtol=0, atol=JPEG_ATOL)


# ---------------------------------------------------------------- official format
def test_official_folder_gives_exact_pixels_and_labels(tmp_path):
    expected = write_official(tmp_path / "cifar-10-batches-py")
    loaded = load_cifar10(tmp_path / "cifar-10-batches-py")
    assert loaded[0][0].shape == (sum(BATCH_SIZES), 32, 32, 3)
    assert loaded[1][0].shape == (TEST_SIZE, 32, 32, 3)
    assert_same_arrays(loaded, expected)


KERAS_LAYOUTS = {
    "keras3-extracted": "cifar-10-batches-py-target/cifar-10-batches-py",
    "keras3-download": "cifar-10-batches-py-target_archive",
    "keras2-extracted": "cifar-10-batches-py",
    "keras2-download": "cifar-10-batches-py.tar.gz",
    "official-download": "cifar-10-python.tar.gz",
}


@pytest.mark.parametrize("name", KERAS_LAYOUTS.values(), ids=KERAS_LAYOUTS.keys())
def test_official_data_found_in_keras_cache(tmp_path, name):
    target = keras_datasets(tmp_path) / name
    if "/" in name:
        expected = write_official(target)
    else:
        expected = write_official(tmp_path / "batches")
        target.parent.mkdir(parents=True)
        make_tar(target, {"cifar-10-batches-py": tmp_path / "batches"})
    assert find_cifar10() == ("official", target)
    assert_same_arrays(load_cifar10(), expected)


def test_relative_env_path_resolves_from_cwd(tmp_path, monkeypatch):
    expected = write_official(tmp_path / "batches")
    (tmp_path / "dl").mkdir()
    make_tar(tmp_path / "dl" / "cifar.tgz", {"cifar-10-batches-py": tmp_path / "batches"})
    monkeypatch.chdir(tmp_path / "dl")
    monkeypatch.setenv("HW9_CIFAR10", "cifar.tgz")
    assert find_cifar10() == ("official", tmp_path / "dl" / "cifar.tgz")
    assert_same_arrays(load_cifar10(), expected)


class _Exploit:
    def __reduce__(self):
        return os.getcwd, ()


def _corrupt_official(folder, how):
    if how == "missing-batch":
        (folder / "data_batch_5").unlink()
    elif how == "wrong-row-length":
        batch = {b"labels": [0, 1], b"data": np.zeros((2, 3000), np.uint8)}
        (folder / "data_batch_2").write_bytes(pickle.dumps(batch))
    elif how == "label-count":
        batch = {b"labels": [0], b"data": np.zeros((2, 3072), np.uint8)}
        (folder / "data_batch_2").write_bytes(pickle.dumps(batch))
    elif how == "label-range":
        batch = {b"labels": [0, 10], b"data": np.zeros((2, 3072), np.uint8)}
        (folder / "test_batch").write_bytes(pickle.dumps(batch))
    elif how == "foreign-global":
        (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))


OFFICIAL_CORRUPTIONS = {
    "missing-batch": "missing batch files \\['data_batch_5'\\]",
    "wrong-row-length": "data_batch_2: b'data' must be uint8 of shape \\(N, 3072\\)",
    "label-count": "data_batch_2: wrong image count",
    "label-range": "test labels outside 0..9",
    "foreign-global": "data_batch_2: .*refusing to load global posix.getcwd",
}


@pytest.mark.parametrize("how", OFFICIAL_CORRUPTIONS)
def test_malformed_official_data_raises_value_error_naming_the_file(tmp_path, how):
    folder = tmp_path / "cifar-10-batches-py"
    write_official(folder)
    _corrupt_official(folder, how)
    with pytest.raises(ValueError, match=OFFICIAL_CORRUPTIONS[how]) as error:
        load_cifar10(folder)
    assert str(folder) in str(error.value)


# ---------------------------------------------------------------- JPEG layout
LONG_PREFIX = "d" * 70 + "/" + "e" * 40  # member names over tar's 100-character field
TAR_VARIANTS = {
    "xz-top-folder": ("w:xz", "CIFAR-10-images", tarfile.PAX_FORMAT),
    "gz-no-top-folder": ("w:gz", "", tarfile.PAX_FORMAT),
    "plain-tar": ("w", "top", tarfile.PAX_FORMAT),
    "pax-long-names": ("w:xz", LONG_PREFIX, tarfile.PAX_FORMAT),
    "gnu-long-names": ("w:xz", LONG_PREFIX, tarfile.GNU_FORMAT),
    "ustar-prefix": ("w:xz", LONG_PREFIX, tarfile.USTAR_FORMAT),
}


@pytest.mark.parametrize("variant", TAR_VARIANTS.values(), ids=TAR_VARIANTS.keys())
def test_jpeg_archive_decodes_to_rgb_in_label_order(tmp_path, variant):
    mode, top, tar_format = variant
    archive, expected = jpeg_archive(tmp_path, mode, top, tar_format)
    assert find_cifar10(archive) == ("jpeg", archive)
    assert_jpeg_arrays(load_cifar10(archive), expected)


def test_extracted_jpeg_folder_is_found_one_level_down(tmp_path):
    expected = write_jpeg_tree(tmp_path / "download" / "CIFAR-10-images")
    assert find_cifar10(tmp_path / "download") == ("jpeg", tmp_path / "download" / "CIFAR-10-images")
    assert_jpeg_arrays(load_cifar10(tmp_path / "download"), expected)


def _corrupt_jpeg_tree(root, how):
    target = root / "train" / "cat" / "0001.jpg"
    if how == "wrong-size":
        target.write_bytes(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    elif how == "grey-image":
        target.write_bytes(cv2.imencode(".png", np.zeros((32, 32), np.uint8))[1].tobytes())
        target.rename(target.with_suffix(".png"))
    elif how == "not-an-image":
        target.write_bytes(b"not a jpeg")
    elif how == "missing-class":
        for file in (root / "test" / "truck").iterdir():
            file.unlink()
    elif how == "unknown-class":
        (root / "train" / "unicorn").mkdir()
        target.rename(root / "train" / "unicorn" / "0001.jpg")


JPEG_CORRUPTIONS = {
    "wrong-size": "train/cat/0001.jpg decodes to uint8 \\(16, 16, 3\\), expected uint8 \\(32, 32, 3\\)",
    "grey-image": "train/cat/0001.png decodes to uint8 \\(32, 32\\)",
    "not-an-image": "train/cat/0001.jpg is not a decodable image",
    "missing-class": "wrong image count: no test images for classes \\['truck'\\]",
    "unknown-class": "train/unicorn/0001.jpg is in an unknown class folder",
}


@pytest.mark.parametrize("how", JPEG_CORRUPTIONS)
@pytest.mark.parametrize("packed", [False, True], ids=["folder", "archive"])
def test_malformed_jpeg_data_raises_value_error_naming_the_file(tmp_path, how, packed):
    root = tmp_path / "tree"
    write_jpeg_tree(root)
    _corrupt_jpeg_tree(root, how)
    source = make_tar(tmp_path / "c.tar.xz", {"train": root / "train", "test": root / "test"},
                      "w:xz") if packed else root
    with pytest.raises(ValueError, match=JPEG_CORRUPTIONS[how]) as error:
        load_cifar10(source)
    assert str(source) in str(error.value)


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT,
                                        tarfile.USTAR_FORMAT], ids=["pax", "gnu", "ustar"])
@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_reader_agrees_with_tarfile(tmp_path, mode, tar_format):
    payloads = {  # sizes on and off the 512-byte blocks
        f"{LONG_PREFIX}/train/cat/0000.jpg": bytes(range(256)) * 2,
        f"{LONG_PREFIX}/train/cat/0001.jpg": b"x" * 700,
        "empty": b"",
        "skipped": b"y" * 1300,
        "last": b"z",
    }
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, mode, format=tar_format) as tar:
        for name, payload in payloads.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with tarfile.open(archive) as tar:
        expected = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert list(expected) == list(payloads)
    members = list(iter_members(archive, lambda name: name != "skipped"))
    assert members == [(name, None if name == "skipped" else payload)
                       for name, payload in expected.items()]


def test_truncated_archive_raises_value_error_naming_it(tmp_path):
    archive, _ = jpeg_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated") as error:
        load_cifar10(archive)
    assert str(archive) in str(error.value)


# ---------------------------------------------------------------- search order and errors
def test_official_in_keras_cache_wins_over_jpeg_from_env(tmp_path, monkeypatch):
    archive, _ = jpeg_archive(tmp_path)
    expected = write_official(keras_datasets(tmp_path) / "cifar-10-batches-py")
    monkeypatch.setenv("HW9_CIFAR10", str(archive))
    assert find_cifar10() == ("official", keras_datasets(tmp_path) / "cifar-10-batches-py")
    assert_same_arrays(load_cifar10(), expected)


def test_official_wins_over_jpeg_in_the_same_folder(tmp_path):
    jpeg_archive(tmp_path)
    write_official(tmp_path / "batches")
    make_tar(tmp_path / "cifar-10-python.tar.gz", {"cifar-10-batches-py": tmp_path / "batches"})
    assert find_cifar10(tmp_path) == ("official", tmp_path / "cifar-10-python.tar.gz")


def test_path_argument_is_the_only_place_searched(tmp_path):
    archive, expected = jpeg_archive(tmp_path)
    write_official(keras_datasets(tmp_path) / "cifar-10-batches-py")
    assert find_cifar10(archive) == ("jpeg", archive)
    assert_jpeg_arrays(load_cifar10(archive), expected)


def test_folder_from_env_holding_the_jpeg_archive(tmp_path, monkeypatch):
    archive, expected = jpeg_archive(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    archive = archive.rename(shared / archive.name)
    monkeypatch.setenv("HW9_CIFAR10", str(shared))
    assert find_cifar10() == ("jpeg", archive)
    assert_jpeg_arrays(load_cifar10(), expected)


def test_not_found_error_lists_every_place_and_the_fix(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "cifar-10-python.tar.gz"
    monkeypatch.setenv("HW9_CIFAR10", str(missing))
    (tmp_path / "not-cifar.tar.gz").write_bytes(b"plain text")
    with pytest.raises(CIFAR10NotFoundError) as error:
        load_cifar10()
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    assert f"$HW9_CIFAR10={missing}: {missing} (does not exist)" in message
    assert f"Keras cache: {keras_datasets(tmp_path)} (does not exist)" in message
    for fix in ("set HW9_CIFAR10", OFFICIAL_URL, "keras.datasets.cifar10.load_data()"):
        assert fix in message
    with pytest.raises(CIFAR10NotFoundError, match="not a CIFAR-10 archive"):
        find_cifar10(tmp_path / "not-cifar.tar.gz")


def test_describe_search_says_what_each_place_holds(tmp_path):
    write_official(keras_datasets(tmp_path) / "cifar-10-batches-py")
    lines = describe_search()
    assert lines == [
        "$HW9_CIFAR10: not set",
        f"Keras cache: {keras_datasets(tmp_path)} (found official at "
        f"{keras_datasets(tmp_path) / 'cifar-10-batches-py'})",
    ]


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
