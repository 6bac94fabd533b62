"""Tiny CIFAR-10 data sets in the official and JPEG layouts, and the arrays they must load as."""
import pickle
import tarfile

import cv2
import numpy as np

from graders.cifar10.data import CLASS_NAMES

BATCH_SIZES = (3, 2, 4, 1, 2)  # the loader takes any N per batch; the real N only on real data
TEST_SIZE = 3
TRAIN_PER_CLASS, TEST_PER_CLASS = 2, 1
# Quality 100 without chroma subsampling: solid 16x16 blocks come back within a few levels.
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 100,
               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
JPEG_ATOL = 3
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def isolate(tmp_path, monkeypatch):
    """Keras's cache and ours under tmp_path, and no $HW9_CIFAR10: only what a test writes is found."""
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
