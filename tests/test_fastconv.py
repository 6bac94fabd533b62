"""The float32 fast 2-D filter against the float64 oracle."""
import numpy as np
import pytest

from benchmarks import fastconv
from graders.oracles import conv

NAMED_KERNELS = {
    "blur3": np.ones((3, 3)) / 9,
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "gaussian5": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0,
    "box1x7": np.ones((1, 7)) / 7,
    "negated_box5": -np.ones((5, 5)),
    "identity": np.array([[1.0]]),
    "zeros3": np.zeros((3, 3)),
    "mixed_signs": np.array([[2, -2, 0], [-1, 1, 2], [0, -2, 2]], dtype=np.float64),
}


def _random_kernel(rng, shape):
    return rng.normal(size=shape)


@pytest.fixture(params=["padded", "direct"])
def layout(request, monkeypatch):
    """Force either code path: whole-image padding, or in-place interior plus border fix-up."""
    monkeypatch.setattr(fastconv, "DIRECT_MIN_ELEMENTS", 2**62 if request.param == "padded" else 0)
    return request.param


@pytest.fixture(params=["cost-model", "all-einsum", "all-grouped"])
def strategy(request, monkeypatch):
    """Let the cost model choose each pass's method, or force one method wherever it applies."""
    tap_cost = {"cost-model": fastconv.EINSUM_TAP_PASSES, "all-einsum": 0.0, "all-grouped": float("inf")}
    monkeypatch.setattr(fastconv, "EINSUM_TAP_PASSES", tap_cost[request.param])
    return request.param


def _assert_matches_oracle(image, kernel):
    actual = fastconv.filter2d_fast(image, kernel)
    expected = conv.filter2d(image, kernel)
    assert actual.dtype == np.float32
    assert actual.shape == np.shape(image)
    # float32 rounding of each of the k*k products and partial sums.
    scale = np.abs(np.asarray(image, dtype=np.float64)).max() * np.abs(kernel).sum()
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * max(scale, 1.0))


@pytest.mark.parametrize("name", sorted(NAMED_KERNELS))
@pytest.mark.parametrize("shape", [(37, 23), (16, 41, 3)], ids=["gray37x23", "rgb16x41"])
def test_named_kernels_match_oracle(layout, strategy, shape, name):
    image = np.random.default_rng(0).uniform(-50, 50, size=shape).astype(np.float32)
    _assert_matches_oracle(image, NAMED_KERNELS[name])


SHAPE_CASES = {
    "1px": (1, 1),
    "1px-rgb": (1, 1, 3),
    "1row": (1, 19),
    "1col": (23, 1),
    "2x2": (2, 2),
    "odd-nonsquare": (7, 13),
    "tall-c2": (29, 5, 2),
    "c4": (9, 11, 4),
    "c1-axis": (6, 7, 1),
    "just-interior-k7x7": (9, 7),
    "just-interior-k9x5-rgb": (11, 5, 3),
}


@pytest.mark.parametrize("kernel_shape", [(1, 1), (3, 3), (5, 3), (1, 5), (7, 7), (9, 5)], ids=lambda s: f"k{s[0]}x{s[1]}")
@pytest.mark.parametrize("shape_id", sorted(SHAPE_CASES))
def test_random_kernels_on_tiny_and_odd_shapes(layout, strategy, shape_id, kernel_shape):
    rng = np.random.default_rng(sum(map(ord, shape_id)) + 100 * kernel_shape[0] + kernel_shape[1])
    image = rng.normal(size=SHAPE_CASES[shape_id]).astype(np.float32)
    _assert_matches_oracle(image, _random_kernel(rng, kernel_shape))


@pytest.mark.parametrize("kernel_id", ["dense", "separable"])
def test_many_tiles_with_kernel_taller_than_a_tile(layout, strategy, monkeypatch, kernel_id):
    # Tiles of 2 rows (with the tile size below) make every halo reach past its own tile.
    monkeypatch.setattr(fastconv, "TILE_ELEMENTS", 40)
    rng = np.random.default_rng(11)
    image = rng.normal(size=(23, 17)).astype(np.float32)
    if kernel_id == "dense":
        kernel = _random_kernel(rng, (7, 5))
    else:
        kernel = np.outer(rng.normal(size=7), rng.normal(size=5))
    assert (fastconv.rank_one_factors(kernel) is not None) == (kernel_id == "separable")
    _assert_matches_oracle(image, kernel)


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_random_sizes_match_oracle(layout, strategy, seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(1, 90, size=2))
    channels = [None, 1, 2, 3][seed % 4]
    shape = (height, width) if channels is None else (height, width, channels)
    kernel_shape = tuple(int(v) * 2 + 1 for v in rng.integers(0, 5, size=2))
    kernel = _random_kernel(rng, kernel_shape)
    if seed % 2:
        kernel = np.outer(kernel[:, 0], kernel[0])
    _assert_matches_oracle(rng.uniform(-1, 1, size=shape).astype(np.float32), kernel)


@pytest.mark.parametrize("shape, kernel_shape, direct", [
    ((9, 7), (7, 7), True),
    ((8, 7), (7, 7), False),
    ((9, 6), (7, 7), False),
    ((11, 5, 3), (9, 5), True),
])
def test_direct_path_taken_only_where_its_reads_stay_inside(monkeypatch, shape, kernel_shape, direct):
    calls = []
    monkeypatch.setattr(fastconv, "DIRECT_MIN_ELEMENTS", 0)
    original = fastconv._filter_interior
    monkeypatch.setattr(fastconv, "_filter_interior", lambda *args: calls.append(1) or original(*args))
    rng = np.random.default_rng(15)
    _assert_matches_oracle(rng.normal(size=shape).astype(np.float32), _random_kernel(rng, kernel_shape))
    assert bool(calls) == direct


def test_large_image_spanning_several_tiles(strategy):
    rng = np.random.default_rng(12)
    image = rng.uniform(0, 255, size=(301, 1000, 3)).astype(np.float32)
    for kernel in (NAMED_KERNELS["sobel_x"], _random_kernel(rng, (5, 5))):
        _assert_matches_oracle(image, kernel)


def test_integer_images_are_filtered_in_float32_without_overflow():
    image = np.full((4, 5), 255, dtype=np.uint8)
    np.testing.assert_allclose(fastconv.filter2d_fast(image, np.ones((3, 3)))[1:3, 1:4], 255.0 * 9, rtol=0, atol=0)


def test_is_correlation_not_convolution():
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    right_neighbour = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    expected = np.hstack([image[:, 1:], np.zeros((4, 1), np.float32)])
    np.testing.assert_allclose(fastconv.filter2d_fast(image, right_neighbour), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name, column, row", [
    ("blur3", [1 / 9, 1 / 9, 1 / 9], [1, 1, 1]),
    ("sobel_x", [1, 2, 1], [-1, 0, 1]),
    ("gaussian5", np.array([1, 4, 6, 4, 1]) / 256 * 6, np.array([1, 4, 6, 4, 1]) / 6),
])
def test_rank_one_factors_of_separable_kernels(name, column, row):
    # The row is scaled to a peak magnitude of 1 so unit taps need no multiply.
    factors = fastconv.rank_one_factors(NAMED_KERNELS[name])
    np.testing.assert_allclose(factors[0], column, rtol=1e-12, atol=0)
    np.testing.assert_allclose(factors[1], row, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["laplacian", "mixed_signs", "zeros3"])
def test_rank_one_factors_rejects_other_kernels(name):
    assert fastconv.rank_one_factors(NAMED_KERNELS[name]) is None


@pytest.mark.parametrize("weights, passes", [
    ([1, 1, 1], 2),
    ([1 / 9] * 9, 9),
    ([-1, 0, 1], 1),
    ([1, 2, 1], 3),
    ([0, 1, 0, 1, -4, 1, 0, 1, 0], 5),
    ([0.5, 0.25, 0.125], 5),
])
def test_grouped_pass_count_matches_the_calls_made(monkeypatch, weights, passes):
    calls = []
    for name in ("add", "subtract", "multiply", "negative", "copyto"):
        original = getattr(np, name)
        monkeypatch.setattr(fastconv.np, name, lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k))
    views = [np.full(4, float(i + 1), np.float32) for i in range(len(weights))]
    target, scratch = np.empty(4, np.float32), np.empty(4, np.float32)
    fastconv.accumulate_taps(target, scratch, [(np.float32(w), v) for w, v in zip(weights, views)])
    expected = sum(w * (i + 1.0) for i, w in enumerate(weights))
    np.testing.assert_allclose(target, expected, rtol=1e-6, atol=1e-6)
    assert fastconv.grouped_pass_count(np.float32(weights)) == passes
    assert len(calls) == passes


def test_accumulate_taps_groups_equal_weights_exactly():
    rng = np.random.default_rng(13)
    views = [rng.normal(size=8).astype(np.float32) for _ in range(5)]
    weights = [np.float32(w) for w in (0.5, -0.5, 1.0, -1.0, 3.0)]
    target, scratch = np.empty(8, np.float32), np.empty(8, np.float32)
    fastconv.accumulate_taps(target, scratch, list(zip(weights, views)))
    expected = sum(float(w) * v.astype(np.float64) for w, v in zip(weights, views))
    np.testing.assert_allclose(target, expected, rtol=1e-6, atol=1e-6)


def test_inputs_not_modified():
    rng = np.random.default_rng(14)
    image, kernel = rng.normal(size=(9, 8, 3)).astype(np.float32), rng.normal(size=(3, 3))
    image_copy, kernel_copy = image.copy(), kernel.copy()
    out = fastconv.filter2d_fast(image, kernel)
    np.testing.assert_array_equal(image, image_copy)
    np.testing.assert_array_equal(kernel, kernel_copy)
    assert not np.shares_memory(out, image)


@pytest.mark.parametrize("argument, image, kernel", [
    ("kernel", np.zeros((5, 5)), np.zeros((3, 3, 1))),
    ("kernel", np.zeros((5, 5)), np.zeros((2, 3))),
    ("image", np.zeros(5), np.zeros((3, 3))),
    ("image", np.zeros((5, 5, 3, 1)), np.zeros((3, 3))),
    ("image", np.array([["a"]]), np.zeros((3, 3))),
], ids=["kernel-3d", "kernel-even", "image-1d", "image-4d", "image-strings"])
def test_invalid_arguments_raise_value_error(argument, image, kernel):
    with pytest.raises(ValueError, match=argument):
        fastconv.filter2d_fast(image, kernel)


def test_concurrent_calls_keep_their_own_buffers():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(16)
    cases = [
        (rng.normal(size=shape).astype(np.float32), rng.normal(size=kernel_shape))
        for shape, kernel_shape in [((40, 31), (3, 3)), ((17, 50, 3), (5, 5)), ((64, 64), (3, 1)), ((9, 9, 2), (7, 7))]
    ] * 6
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: fastconv.filter2d_fast(*case), cases))
    for (image, kernel), actual in zip(cases, results):
        np.testing.assert_allclose(actual, conv.filter2d(image, kernel), rtol=1e-5, atol=1e-4)


def test_strided_windows_refuse_to_read_outside_their_buffer():
    flat = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fastconv.TilePlan._window(flat, 2, (3, 4), (2, 1))[2], [6, 7, 8, 9])
    for base, shape in [(2, (4, 4)), (-1, (2, 2))]:
        with pytest.raises(IndexError, match="reads outside"):
            fastconv.TilePlan._window(flat, base, shape, (2, 1))
