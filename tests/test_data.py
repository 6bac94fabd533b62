"""The CIFAR-10 loader on tiny archives built here: the official and JPEG layouts, where it looks, what it refuses."""
import io
import os
import pickle
import tarfile

import cv2
import numpy as np
import pytest

from graders.cifar10.data import load_cifar10
from graders.cifar10.search import (
    OFFICIAL_URL,
    CIFAR10NotFoundError,
    describe_search,
    find_cifar10,
)
from graders.cifar10.tar_stream import iter_members
from tests.cifar10_helpers import (
    BATCH_SIZES,
    TEST_SIZE,
    assert_jpeg_arrays,
    assert_same_arrays,
    isolate,
    jpeg_archive,
    keras_datasets,
    make_tar,
    write_jpeg_tree,
    write_official,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch)


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
