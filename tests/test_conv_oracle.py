"""The float64 convolution/pooling oracle against Keras, OpenCV and hand-computed goldens."""
import itertools
import zlib

import cv2
import keras
import numpy as np
import pytest

from graders.oracles import conv

GOLDEN_PATCH = np.array([[131, 162, 232], [104, 93, 139], [243, 26, 252]], dtype=np.uint8)
Q2_KERNELS = {
    "blur": np.ones((3, 3)) / 9,
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
}
POOL_GOLDEN_INPUT = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]], dtype=np.uint8)
POOL_GOLDEN = {
    "max": [[9, 7], [8, 6]],
    "avg": [[4.25, 4.25], [4.25, 3.5]],
    "min": [[2, 1], [1, 2]],
}
KERAS_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}


def _conv_cases(n_dims, count, seed):
    """Seeded random layer configurations with readable ids."""
    rng = np.random.default_rng(seed)
    max_side = {1: 12, 2: 9, 3: 6}[n_dims]
    cases = []
    for _ in range(count):
        kernel = tuple(int(k) for k in rng.integers(1, 6 if n_dims < 3 else 4, size=n_dims))
        spatial = tuple(int(rng.integers(k, max_side + 1)) for k in kernel)
        strides = tuple(int(s) for s in rng.integers(1, 4, size=n_dims))
        padding = str(rng.choice(["valid", "same"]))
        channels, filters = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        case_id = (
            f"conv{n_dims}d-in{'x'.join(map(str, spatial))}-k{'x'.join(map(str, kernel))}"
            f"-s{'x'.join(map(str, strides))}-{padding}-c{channels}-f{filters}"
        )
        cases.append(pytest.param(n_dims, spatial, kernel, strides, padding, channels, filters, id=case_id))
    return cases


CONV_CASES = _conv_cases(1, 8, seed=1) + _conv_cases(2, 10, seed=2) + _conv_cases(3, 6, seed=3)


@pytest.mark.parametrize("n_dims, spatial, kernel_size, strides, padding, channels, filters", CONV_CASES)
def test_correlate_matches_keras_conv(n_dims, spatial, kernel_size, strides, padding, channels, filters):
    rng = np.random.default_rng(sum(spatial) * 131 + channels * 7 + filters)
    x = rng.uniform(-1, 1, size=(2, *spatial, channels)).astype(np.float32)
    kernel = rng.uniform(-1, 1, size=(*kernel_size, channels, filters)).astype(np.float32)
    bias = rng.uniform(-1, 1, size=filters).astype(np.float32)
    layer = KERAS_CONV[n_dims](filters, kernel_size, strides=strides, padding=padding)
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    expected = keras.ops.convert_to_numpy(layer(x))

    actual = conv.correlate(x, kernel, strides=strides, padding=padding, bias=bias)

    assert actual.dtype == np.float64
    assert actual.shape == expected.shape
    terms = np.prod(kernel_size) * channels
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * terms)


def _naive_correlate(x, kernel, strides):
    """Loop-per-output-pixel reference for tiny inputs (valid padding)."""
    n_dims = x.ndim - 2
    kernel_spatial = kernel.shape[:n_dims]
    out_spatial = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], kernel_spatial, strides)]
    out = np.zeros((x.shape[0], *out_spatial, kernel.shape[-1]))
    for b in range(x.shape[0]):
        for pos in itertools.product(*map(range, out_spatial)):
            window = x[(b, *(slice(p * s, p * s + k) for p, s, k in zip(pos, strides, kernel_spatial)))]
            out[(b, *pos)] = np.tensordot(window, kernel, axes=n_dims + 1)
    return out


def test_correlate_four_spatial_dims_matches_naive_loop():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 5, 3, 4, 2))
    kernel = rng.normal(size=(2, 3, 1, 2, 2, 3))
    strides = (1, 2, 1, 2)
    np.testing.assert_allclose(
        conv.correlate(x, kernel, strides=strides), _naive_correlate(x, kernel, strides),
        rtol=1e-12, atol=1e-12,
    )


@pytest.mark.parametrize(
    "padding, pairs",
    [
        pytest.param(2, ((2, 2), (2, 2)), id="int"),
        pytest.param((1, 3), ((1, 1), (3, 3)), id="per-axis-ints"),
        pytest.param(((0, 2), (3, 1)), ((0, 2), (3, 1)), id="per-axis-pairs"),
    ],
)
def test_correlate_explicit_padding_is_zero_padding(padding, pairs):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 5, 6, 2))
    kernel = rng.normal(size=(3, 4, 2, 2))
    expected = conv.correlate(np.pad(x, ((0, 0), *pairs, (0, 0))), kernel, strides=(2, 1))
    np.testing.assert_allclose(
        conv.correlate(x, kernel, strides=(2, 1), padding=padding), expected, rtol=1e-12, atol=1e-12
    )


def test_correlate_does_not_flip_the_kernel():
    x = np.array([1.0, 2.0, 4.0, 8.0]).reshape(1, 4, 1)
    kernel = np.array([1.0, 0.0, -1.0]).reshape(3, 1, 1)
    # out[i] = x[i] - x[i + 2]; a (flipped) convolution would give the opposite sign.
    np.testing.assert_allclose(conv.correlate(x, kernel)[0, :, 0], [-3.0, -6.0], rtol=0, atol=0)


def test_correlate_accepts_uint8_without_overflow():
    x = np.full((1, 4, 4, 2), 255, dtype=np.uint8)
    kernel = np.ones((3, 3, 2, 1), dtype=np.uint8)
    np.testing.assert_allclose(conv.correlate(x, kernel), np.full((1, 2, 2, 1), 255.0 * 18), rtol=0, atol=0)


@pytest.mark.parametrize("name, centre", [
    pytest.param("blur", 1382 / 9, id="blur"),
    pytest.param("laplacian", 59.0, id="laplacian"),
    pytest.param("sobel_y", -140.0, id="sobel_y"),
    pytest.param("sobel_x", 180.0, id="sobel_x"),
])
def test_filter2d_golden_patch_centre(name, centre):
    out = conv.filter2d(GOLDEN_PATCH, Q2_KERNELS[name])
    assert out.shape == (3, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out[1, 1], centre, rtol=1e-12, atol=0)


IMAGE_DTYPES = [np.uint8, np.int16, np.float32, np.float64]
FILTER_KERNEL_SHAPES = [(3, 3), (5, 5), (3, 5), (5, 3), (1, 1), (7, 1)]


@pytest.mark.parametrize("kernel_shape", FILTER_KERNEL_SHAPES, ids=lambda s: f"k{s[0]}x{s[1]}")
@pytest.mark.parametrize("channels", [None, 1, 3, 4], ids=lambda c: "gray" if c is None else f"c{c}")
@pytest.mark.parametrize("dtype", IMAGE_DTYPES, ids=lambda d: np.dtype(d).name)
def test_filter2d_matches_cv2(dtype, channels, kernel_shape):
    rng = np.random.default_rng(zlib.crc32(f"{np.dtype(dtype).name}-{channels}-{kernel_shape}".encode()))
    shape = (13, 17) if channels is None else (13, 17, channels)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        image = rng.uniform(-100, 100, size=shape).astype(dtype)
    kernel = rng.normal(size=kernel_shape)
    expected = cv2.filter2D(image.astype(np.float64), cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)

    actual = conv.filter2d(image, kernel)

    assert actual.dtype == np.float64 and actual.shape == image.shape
    scale = np.abs(image.astype(np.float64)).max() * np.abs(kernel).sum()
    np.testing.assert_allclose(actual, expected.reshape(image.shape), rtol=1e-12, atol=1e-12 * scale)


def test_filter2d_is_correlation_not_convolution():
    image = np.arange(25, dtype=np.float64).reshape(5, 5)
    kernel = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float64)
    # Correlation with a right-hand tap reads the right neighbour; convolution the left one.
    expected = np.hstack([image[:, 1:], np.zeros((5, 1))])
    np.testing.assert_allclose(conv.filter2d(image, kernel), expected, rtol=0, atol=0)
    flipped = conv.filter2d(image, kernel[::-1, ::-1])
    assert np.abs(conv.filter2d(image, kernel) - flipped).max() >= 1.0


@pytest.mark.parametrize("mode", sorted(POOL_GOLDEN))
def test_pool2d_golden_example(mode):
    out = conv.pool2d(POOL_GOLDEN_INPUT, pool_size=2, strides=2, mode=mode)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, POOL_GOLDEN[mode], rtol=0, atol=1e-12)


POOL_CASES = [
    pytest.param(p, s, shape, id=f"p{p}-s{s}-in{'x'.join(map(str, shape))}")
    for p, s, shape in [
        (2, None, (8, 8, 3)), (3, 1, (7, 9, 2)), (2, 3, (9, 7, 1)), (3, 2, (6, 11, 4)), (1, 2, (5, 4, 2)),
    ]
]


@pytest.mark.parametrize("pool_size, strides, shape", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_pool2d_matches_keras_pooling(mode, pool_size, strides, shape):
    rng = np.random.default_rng(pool_size * 10 + (strides or 0))
    x = rng.normal(size=shape).astype(np.float32)
    layer_class = keras.layers.AveragePooling2D if mode == "avg" else keras.layers.MaxPooling2D
    layer = layer_class(pool_size, strides=strides, padding="valid")
    sign = -1.0 if mode == "min" else 1.0  # min pooling is max pooling of the negated input
    expected = sign * keras.ops.convert_to_numpy(layer((sign * x)[None]))[0]
    np.testing.assert_allclose(conv.pool2d(x, pool_size, strides, mode), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        conv.pool2d(x[..., 0], pool_size, strides, mode), expected[..., 0], rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_global_pool_matches_keras(mode):
    x = np.random.default_rng(6).normal(size=(5, 7, 3)).astype(np.float32)
    layer = keras.layers.GlobalAveragePooling2D() if mode == "avg" else keras.layers.GlobalMaxPooling2D()
    sign = -1.0 if mode == "min" else 1.0
    expected = sign * keras.ops.convert_to_numpy(layer((sign * x)[None]))[0]
    np.testing.assert_allclose(conv.global_pool(x, mode), expected, rtol=1e-6, atol=1e-6)
    scalar = conv.global_pool(x[..., 1], mode)
    assert scalar.shape == ()
    np.testing.assert_allclose(scalar, expected[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n, k, s, p, expected", [
    (28, 7, 1, 0, 22), (11, 5, 1, 0, 7), (7, 3, 1, 0, 5), (32, 3, 2, 1, 16), (5, 5, 3, 0, 1), (1, 3, 1, 1, 1),
])
def test_conv_output_length_formula(n, k, s, p, expected):
    assert conv.conv_output_length(n, k, s, p) == expected


@pytest.mark.parametrize("n, k, s, expected", [
    (5, 3, 2, (1, 1)), (6, 4, 1, (1, 2)), (7, 1, 3, (0, 0)), (4, 5, 1, (2, 2)), (10, 2, 3, (0, 1)),
])
def test_same_padding_values(n, k, s, expected):
    assert conv.same_padding(n, k, s) == expected


def test_same_padding_gives_ceil_output_length():
    for n, k, s in itertools.product(range(1, 12), range(1, 7), range(1, 5)):
        before, after = conv.same_padding(n, k, s)
        assert (n + before + after - k) // s + 1 == -(-n // s), (n, k, s)


def test_inputs_are_not_modified_and_outputs_are_fresh():
    rng = np.random.default_rng(7)
    x, kernel, bias = rng.normal(size=(1, 6, 6, 2)), rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2)
    image, pool_input = rng.integers(0, 256, size=(6, 5, 3)).astype(np.uint8), rng.normal(size=(4, 4))
    originals = [a.copy() for a in (x, kernel, bias, image, pool_input)]
    outputs = [
        conv.correlate(x, kernel, padding="same", bias=bias),
        conv.filter2d(image, kernel[:, :, 0, 0]),
        conv.pool2d(pool_input, 1, mode="max"),
        conv.pool2d(pool_input, 2, mode="avg"),
        conv.global_pool(pool_input, mode="max"),
    ]
    for original, array in zip(originals, (x, kernel, bias, image, pool_input)):
        np.testing.assert_array_equal(array, original)
    for out in outputs:
        assert not any(np.shares_memory(out, a) for a in (x, kernel, bias, image, pool_input))


GOOD_X, GOOD_KERNEL = np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 2, 1))
ERROR_CASES = [
    ("input_length", lambda: conv.conv_output_length(0, 3)),
    ("kernel_size", lambda: conv.conv_output_length(5, -1)),
    ("stride", lambda: conv.conv_output_length(5, 3, 0)),
    ("padding", lambda: conv.conv_output_length(5, 3, 1, -1)),
    ("kernel_size", lambda: conv.conv_output_length(3, 6, 1, 1)),
    ("input_length", lambda: conv.conv_output_length(2.5, 1)),
    ("stride", lambda: conv.same_padding(5, 3, 0)),
    ("kernel_size", lambda: conv.same_padding(5, 0)),
    ("x", lambda: conv.correlate(np.zeros((4, 4)), np.zeros((3, 4, 1)))),
    ("x", lambda: conv.correlate(np.array([["a"]] * 3), GOOD_KERNEL)),
    ("kernel", lambda: conv.correlate(GOOD_X, np.zeros((3, 2, 1)))),
    ("kernel", lambda: conv.correlate(GOOD_X, np.zeros((3, 3, 3, 1)))),
    ("strides", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, strides=(0, 1))),
    ("strides", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, strides=(1, 1, 1))),
    ("padding", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, padding="full")),
    ("padding", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, padding=-1)),
    ("padding", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, padding=((1, 2), (1,)))),
    ("kernel size", lambda: conv.correlate(GOOD_X, np.zeros((5, 3, 2, 1)))),
    ("bias", lambda: conv.correlate(GOOD_X, GOOD_KERNEL, bias=np.zeros(2))),
    ("kernel", lambda: conv.filter2d(np.zeros((5, 5)), np.zeros((3, 3, 1)))),
    ("kernel", lambda: conv.filter2d(np.zeros((5, 5)), np.zeros((3, 2)))),
    ("kernel", lambda: conv.filter2d(np.zeros((5, 5)), np.zeros((4, 3)))),
    ("image", lambda: conv.filter2d(np.zeros(5), np.zeros((3, 3)))),
    ("image", lambda: conv.filter2d(np.zeros((5, 5, 3, 1)), np.zeros((3, 3)))),
    ("mode", lambda: conv.pool2d(POOL_GOLDEN_INPUT, mode="sum")),
    ("pool_size", lambda: conv.pool2d(POOL_GOLDEN_INPUT, pool_size=0)),
    ("strides", lambda: conv.pool2d(POOL_GOLDEN_INPUT, strides=0)),
    ("pool_size", lambda: conv.pool2d(POOL_GOLDEN_INPUT, pool_size=5)),
    ("x", lambda: conv.pool2d(np.zeros(4))),
    ("mode", lambda: conv.global_pool(POOL_GOLDEN_INPUT, mode="median")),
    ("x", lambda: conv.global_pool(np.zeros((2, 2, 2, 2)))),
]


@pytest.mark.parametrize(
    "argument, call", ERROR_CASES, ids=[f"{i:02d}-{name.replace(' ', '_')}" for i, (name, _) in enumerate(ERROR_CASES)]
)
def test_invalid_arguments_raise_value_error_naming_them(argument, call):
    with pytest.raises(ValueError, match=argument):
        call()
