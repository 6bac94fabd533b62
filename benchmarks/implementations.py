"""The 2-D filtering implementations the benchmarks time, each as `runner(image) -> array`.

Every factory takes the float32 kernel and returns a callable on an (H, W) or (H, W, C)
float32 image, or raises pytest.skip.Exception with the reason it cannot run.
"""
import cv2
import numpy as np
import pytest

from benchmarks import fastconv
from graders.oracles import conv

# The float64 oracle runs one full-image pass per tap; above this it takes seconds per call.
ORACLE_MAX_SIZE = 1024
DEFAULT_CV2_THREADS = cv2.getNumThreads()


def _random_kernel(size):
    rng = np.random.default_rng(size)
    return rng.normal(size=(size, size))


KERNELS = {
    "box3": np.ones((3, 3)) / 9,
    "sobel3": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "laplacian3": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "random3": _random_kernel(3),
    "random5": _random_kernel(5),
    "random7": _random_kernel(7),
}


def oracle(kernel, size, submission):
    if size > ORACLE_MAX_SIZE:
        pytest.skip(f"float64 oracle only timed up to {ORACLE_MAX_SIZE}px (seconds per call above)")
    return lambda image: conv.filter2d(image, kernel)


def numpy_fast(kernel, size, submission):
    return lambda image: fastconv.filter2d_fast(image, kernel)


def _cv2_runner(kernel, threads):
    def runner(image):
        # setNumThreads is process-wide; setting an unchanged count costs under a microsecond.
        cv2.setNumThreads(threads)
        return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT)

    return runner


def cv2_1thread(kernel, size, submission):
    return _cv2_runner(kernel, 1)


def cv2_default(kernel, size, submission):
    return _cv2_runner(kernel, DEFAULT_CV2_THREADS)


def scipy_ndimage(kernel, size, submission):
    ndimage = pytest.importorskip("scipy.ndimage", reason="scipy is in the test extra")

    def runner(image):
        if image.ndim == 2:
            return ndimage.correlate(image, kernel, mode="constant", cval=0.0)
        out = np.empty_like(image)
        for c in range(image.shape[2]):
            out[..., c] = ndimage.correlate(image[..., c], kernel, mode="constant", cval=0.0)
        return out

    return runner


def _keras_conv(kernel):
    import keras

    layer = keras.layers.Conv2D(1, kernel.shape, padding="same", use_bias=False)
    layer.build((None, None, None, 1))
    layer.set_weights([kernel[:, :, None, None]])
    return keras, layer


def _as_batch_of_planes(image):
    """(H, W[, C]) -> (C, H, W, 1): each channel filtered as its own sample."""
    return np.moveaxis(image.reshape(*image.shape[:2], -1), -1, 0)[..., None]


def _from_batch_of_planes(planes, shape):
    return np.moveaxis(planes[..., 0], 0, -1).reshape(shape)


def keras_call(kernel, size, submission):
    keras, layer = _keras_conv(kernel)
    return lambda image: _from_batch_of_planes(
        keras.ops.convert_to_numpy(layer(_as_batch_of_planes(image))), image.shape
    )


def keras_predict(kernel, size, submission):
    keras, layer = _keras_conv(kernel)
    model = keras.Sequential([keras.Input((None, None, 1)), layer])

    def runner(image):
        planes = _as_batch_of_planes(image)
        return _from_batch_of_planes(model.predict(planes, batch_size=len(planes), verbose=0), image.shape)

    return runner


def _submission_function(submission, name):
    module, where = submission
    if module is None:
        pytest.skip(f"submission not loaded: {where}")
    function = getattr(module, name, None)
    if not callable(function):
        pytest.skip(f"{where} has no function {name}")
    return function


def submission_keras(kernel, size, submission):
    function = _submission_function(submission, "filter_keras")
    return lambda image: function(image, kernel)


def submission_cv2(kernel, size, submission):
    function = _submission_function(submission, "filter_cv2")
    return lambda image: function(image, kernel)


IMPLEMENTATIONS = {
    factory.__name__: factory
    for factory in (
        oracle, numpy_fast, cv2_1thread, cv2_default, scipy_ndimage,
        keras_call, keras_predict, submission_keras, submission_cv2,
    )
}
