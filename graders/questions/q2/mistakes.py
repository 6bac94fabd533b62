"""Known wrong answers for Q2, computed with the float64 oracle from the same input.

Kernel mistakes compare what `kernel(name)` returned with mangled contract kernels.
Filter mistakes are split in two families that students combine: how the filtering goes
wrong (flipped kernel, reflected border, channels mixed...) and what is done to the
result afterwards (saturated or wrapped into uint8, rounded, scaled). Each function
returns the wrong answer, or None where the mistake cannot be told apart on that input;
the diagnoses return the catalogue's Findings (a filtering and an output mistake made
together are joined), or None.
"""
import itertools
from pathlib import Path

import numpy as np

from graders.judge.mistakes import Catalogue, together
from graders.oracles import conv

CATALOGUE = Catalogue.load(Path(__file__).with_name("mistakes.yaml"), "q2")


def __getattr__(name):
    """The catalogue's entries as this module's names too (`mistakes.SATURATION`)."""
    return getattr(CATALOGUE, name)

# The contract's kernels, written out again here so the judge never trusts a submission's.
FIXED_KERNELS = {
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
}
KERNEL_NAMES = ("blur", "laplacian", "sobel_y", "sobel_x")
# RGB (and BGR) to gray weights of cv2.cvtColor and of most image libraries.
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def contract_kernel(name, divisor=9):
    """The kernel the contract defines for `name`."""
    return np.ones((3, 3)) / divisor if name == "blur" else FIXED_KERNELS[name].copy()


def _same(got, wrong, rtol=1e-6, atol=1e-9):
    got, wrong = np.asarray(got), np.asarray(wrong)
    return got.shape == wrong.shape and bool(np.isclose(got.astype(np.float64), wrong, rtol=rtol, atol=atol).all())


# ---- kernel(name) ------------------------------------------------------------------------

def kernel_mistakes(name, divisor=9):
    """(wrong kernel, Finding) pairs for `kernel(name, divisor)`, most specific first."""
    right = contract_kernel(name, divisor)
    other_sobel = {"sobel_x": "sobel_y", "sobel_y": "sobel_x"}.get(name)
    if name == "blur":
        candidates = [
            (np.ones((3, 3)), CATALOGUE.BLUR_NOT_DIVIDED()),
            (np.zeros((3, 3)), CATALOGUE.BLUR_INTEGER_DIVISION()),
            (np.ones((3, 3)) / 9, CATALOGUE.DIVISOR_IGNORED(divisor=divisor)),
            (np.ones((3, 3)) * divisor, CATALOGUE.BLUR_MULTIPLIED()),
        ]
    elif other_sobel:
        candidates = [
            (FIXED_KERNELS[other_sobel], CATALOGUE.SOBEL_SWAPPED(name=name, kernel=right.tolist())),
            (-FIXED_KERNELS[other_sobel], CATALOGUE.SOBEL_SWAPPED_SIGN(name=name, kernel=right.tolist())),
            (-right, CATALOGUE.SOBEL_SIGN(name=name, kernel=right.tolist())),
        ]
    else:
        candidates = [
            (-right, CATALOGUE.LAPLACIAN_SIGN(kernel=right.tolist())),
            (np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], dtype=float), CATALOGUE.LAPLACIAN_8()),
        ]
    candidates.append((right.T, CATALOGUE.KERNEL_TRANSPOSED(name=name, kernel=right.tolist())))
    # A mangling that leaves this kernel unchanged (blur transposed) names nothing.
    return [(wrong, finding) for wrong, finding in candidates if not _same(wrong, right)]


def diagnose_kernel(got, name, divisor=9):
    """Name the kernel mistake `got` shows, or None."""
    got = np.asarray(got)
    if got.shape != (3, 3) and got.size == 9:
        return CATALOGUE.KERNEL_SHAPE(shape=got.shape)
    for wrong, finding in kernel_mistakes(name, divisor):
        if _same(got, wrong):
            return finding
    return None


# ---- how the filtering itself goes wrong: (image, kernel) -> float64 result -------------

def flipped_kernel(image, kernel):
    """Convolution (cv2/scipy convolve, or a kernel flipped with cv2.flip) instead of correlation."""
    return conv.filter2d(image, kernel[::-1, ::-1])


def transposed_kernel(image, kernel):
    return conv.filter2d(image, kernel.T) if kernel.shape[0] == kernel.shape[1] else None


def padded_border(image, kernel, mode):
    """Correlation with the border filled by np.pad `mode` instead of zeros."""
    kh, kw = kernel.shape
    pads = ((kh // 2, kh // 2), (kw // 2, kw // 2)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(np.asarray(image, dtype=np.float64), pads, mode=mode)
    return conv.filter2d(padded, kernel)[kh // 2:kh // 2 + image.shape[0], kw // 2:kw // 2 + image.shape[1]]


def channels_summed(image, kernel):
    """One Conv2D over all channels: every output channel is the sum over input channels."""
    if image.ndim != 3 or image.shape[2] == 1:
        return None
    summed = conv.filter2d(image, kernel).sum(axis=2, keepdims=True)
    return np.repeat(summed, image.shape[2], axis=2)


def gray_filtered(image, kernel):
    """The image converted to gray (RGB or BGR weights, or the channel mean) and then filtered."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        return []
    colour = np.asarray(image[:, :, :3], dtype=np.float64)
    grays = [colour @ _GRAY_WEIGHTS, colour @ _GRAY_WEIGHTS[::-1], colour.mean(axis=2)]
    return [conv.filter2d(gray, kernel) for gray in grays]


FILTER_MISTAKES = [
    (flipped_kernel, CATALOGUE.FLIPPED),
    (transposed_kernel, CATALOGUE.FILTER_TRANSPOSED),
    (lambda image, kernel: padded_border(image, kernel, "reflect"), CATALOGUE.BORDER_REFLECT_101),
    (lambda image, kernel: padded_border(image, kernel, "edge"), CATALOGUE.BORDER_REPLICATE),
    (lambda image, kernel: padded_border(image, kernel, "symmetric"), CATALOGUE.BORDER_REFLECT),
    (channels_summed, CATALOGUE.CHANNELS_MIXED),
]


# ---- what is done to the result afterwards: (values, input dtype) -> values -------------

def _integer_range(dtype):
    info = np.iinfo(dtype if np.issubdtype(dtype, np.integer) else np.uint8)
    return float(info.min), float(info.max)


def rounded(values, dtype):
    return np.round(values)


def truncated(values, dtype):
    return np.trunc(values)


def saturated(values, dtype):
    """Rounded and clipped to the integer input's range, as cv2.filter2D(img, -1, k) does (uint8 otherwise)."""
    return np.clip(np.round(values), *_integer_range(dtype))


def clipped_to_pixel_range(values, dtype):
    return np.clip(values, 0.0, 255.0)


def clipped_and_cast(values, dtype):
    """np.clip(result, 0, 255).astype(np.uint8): clipped, then truncated."""
    return np.trunc(np.clip(values, 0.0, 255.0))


def wrapped(values, dtype):
    """result.astype(np.uint8): truncated, then wrapped modulo 256."""
    return np.mod(np.trunc(values), 256.0)


def scaled_to_unit(values, dtype):
    return values / 255.0


OUTPUT_MISTAKES = [
    (rounded, CATALOGUE.ROUNDED),
    (truncated, CATALOGUE.TRUNCATED),
    (saturated, CATALOGUE.SATURATION),
    (clipped_to_pixel_range, CATALOGUE.CLIPPED),
    (clipped_and_cast, CATALOGUE.CLIPPED_AND_CAST),
    (wrapped, CATALOGUE.WRAP_AROUND),
    (scaled_to_unit, CATALOGUE.SCALED),
]
# These jump at integer boundaries, where a float32 sum may fall on the other side than the
# float64 oracle: they are also applied to the oracle's value moved by the tolerance.
_STEP_OUTPUTS = (rounded, truncated, saturated, clipped_and_cast, wrapped)


# ---- diagnosis of one filter call -------------------------------------------------------

def _channels_lost(got_shape, image_shape):
    """A colour image gave a one-channel result."""
    h, w = image_shape[:2]
    return len(image_shape) == 3 and image_shape[2] > 1 and got_shape in ((h, w), (h, w, 1))


def _shape_mistake(got_shape, image_shape, kernel_shape):
    h, w = image_shape[:2]
    kh, kw = kernel_shape
    channels = image_shape[2:]
    if len(got_shape) > len(image_shape) and got_shape[:1] == (1,) and got_shape[1:3] == (h, w):
        return CATALOGUE.BATCH_AXIS()
    if got_shape[:2] == (h - kh + 1, w - kw + 1) and (kh, kw) != (1, 1):
        return CATALOGUE.VALID_PADDING()
    dropped = {(h - 1, w): "last row", (h, w - 1): "last column", (h - 1, w - 1): "last row and column"}
    if got_shape[:2] in dropped and got_shape[2:] == channels:
        return CATALOGUE.EDGE_DROPPED(dropped=dropped[got_shape[:2]])
    if got_shape[:2] == (w, h) and h != w:
        return CATALOGUE.HW_SWAPPED()
    if _channels_lost(got_shape, image_shape):
        return CATALOGUE.CHANNELS_LOST()
    if channels == (1,) and got_shape == (h, w):
        return CATALOGUE.CHANNEL_AXIS_DROPPED()
    if not channels and got_shape == (h, w, 1):
        return CATALOGUE.CHANNEL_AXIS_ADDED()
    return None


def _wrong_answers(post, values, dtype, atol):
    """What output mistake `post` makes of `values`: one array, or three around a step."""
    if post is None:
        return [values]
    if post not in _STEP_OUTPUTS:
        return [post(values, dtype)]
    return [post(values + shift, dtype) for shift in (0.0, -atol, atol)]


def _matches(got, wrongs, rtol, atol):
    """Every element of `got` within tolerance of the same element of one of `wrongs`."""
    if any(got.shape != wrong.shape for wrong in wrongs):
        return False
    within = np.zeros(got.shape, dtype=bool)
    for wrong in wrongs:
        within |= np.abs(got - wrong) <= atol + rtol * np.abs(wrong)
    return bool(within.all())


def _gray_mistake(got, image, kernel, rtol, atol):
    flat = np.asarray(got, dtype=np.float64).reshape(got.shape[:2])
    for gray in gray_filtered(image, kernel):
        for post in [None, *(post for post, _ in OUTPUT_MISTAKES)]:
            if _matches(flat, _wrong_answers(post, gray, image.dtype, atol), rtol, atol):
                return CATALOGUE.GRAY()
    summed = channels_summed(image, kernel)
    if summed is not None and _matches(flat, [summed[:, :, 0]], rtol, atol):
        return CATALOGUE.CHANNELS_MIXED()
    return None


def _candidates(image, kernel, correct):
    """(filtered result, output mistake or None, Finding): single mistakes first, then pairs."""
    filtered = [(make(image, kernel), mistake) for make, mistake in FILTER_MISTAKES]
    filtered = [(wrong, mistake) for wrong, mistake in filtered if wrong is not None and not _same(wrong, correct)]
    yield from ((wrong, None, mistake()) for wrong, mistake in filtered)
    yield from ((correct, post, mistake()) for post, mistake in OUTPUT_MISTAKES)
    for (wrong, mistake), (post, post_mistake) in itertools.product(filtered, OUTPUT_MISTAKES):
        yield wrong, post, together(mistake(), post_mistake())


def _border_mistake(got, correct, kernel, rtol, atol):
    """Interior right, border wrong: a padding other than zeros that no candidate names."""
    ph, pw = kernel.shape[0] // 2, kernel.shape[1] // 2
    interior = (slice(ph, got.shape[0] - ph), slice(pw, got.shape[1] - pw))
    if got.shape != correct.shape or got[interior].size == 0 or (ph, pw) == (0, 0):
        return None
    if _matches(got[interior], [correct[interior]], rtol, atol):
        return CATALOGUE.BORDER_WRONG()
    return None


def filter_diagnosis(image, kernel, rtol, atol):
    """A `diagnose(got)` for one filter call: the named mistake `got` matches, or None."""
    image, kernel = np.asarray(image), np.asarray(kernel, dtype=np.float64)

    def diagnose(got):
        if not (np.issubdtype(got.dtype, np.number) or got.dtype == np.bool_):
            return None
        shape_mistake = _shape_mistake(got.shape, image.shape, kernel.shape)
        if _channels_lost(got.shape, image.shape):
            return _gray_mistake(got, image, kernel, rtol, atol) or shape_mistake
        if shape_mistake:
            return shape_mistake
        values, correct = np.asarray(got, dtype=np.float64), conv.filter2d(image, kernel)
        for filtered, post, finding in _candidates(image, kernel, correct):
            wrongs = _wrong_answers(post, filtered, image.dtype, atol)
            if not any(_same(wrong, correct, rtol, atol) for wrong in wrongs) and _matches(values, wrongs, rtol, atol):
                return finding
        return _border_mistake(values, correct, kernel, rtol, atol)

    return diagnose


def dtype_mistake(got_dtype, image_dtype):
    """Why a non-float output dtype is wrong, naming the cast that produced it."""
    if got_dtype == np.uint8:
        return CATALOGUE.UINT8_OUTPUT()
    if got_dtype == image_dtype:
        return CATALOGUE.INPUT_DTYPE_KEPT(dtype=str(got_dtype))
    return CATALOGUE.NOT_FLOAT(dtype=str(got_dtype))
