"""Q2 pictures for the student page: a fixed test image, filtered, as PNGs a person can compare."""
import numpy as np

from graders.questions.q2.tolerance import beyond_tolerance

IMAGE_SIZE = 64
# The darkest grey a difference beyond tolerance gets: far enough from black to see at a glance.
GREY_BEYOND = 96
NORMALISATION = (
    "Display: the student's output and the reference share one scale s = max|reference| per kernel. "
    "Kernels with negative weights (Laplacian, Sobel) map v to 128 + 127 v/s (zero is mid-grey, +s white, -s black); "
    "the blur maps v to 255 v/s; values outside are clipped. "
    "The difference image uses the checks' tolerance (atol + rtol |reference|, as q2.filter_keras and q2.filter_cv2 judge): "
    f"black where |student - reference| is within it; beyond it, from grey ({GREY_BEYOND}) up to white at the largest "
    "difference, printed under the image with how many pixels are beyond tolerance (NaN and infinities are white)."
)


def test_image(size=IMAGE_SIZE):
    """A synthetic uint8 RGB image with horizontal, vertical, diagonal and curved edges."""
    y, x = np.mgrid[0:size, 0:size]
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[..., 0] = x * 255 // (size - 1)  # a ramp: flat for Sobel-y, a constant slope for Sobel-x
    image[..., 1] = y * 127 // (size - 1)
    image[..., 2] = 40
    image[size // 4 : size * 5 // 8, size // 5 : size * 9 // 16] = (230, 200, 40)  # a bright square
    image[(x - size * 11 // 16) ** 2 + (y - size * 5 // 8) ** 2 < (size // 5) ** 2] = (20, 60, 210)  # a disc
    image[np.abs(x - y) < 1] = 255  # a diagonal line
    return image


def _scale(reference):
    return max(float(np.abs(reference).max()), 1e-12)


def to_display(values, reference):
    """uint8 pixels for `values` on the reference's scale (see the module docstring)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    scale = _scale(reference)
    if float(np.min(reference)) < 0:
        pixels = 128 + 127 * values / scale
    else:
        pixels = 255 * values / scale
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def difference_display(values, reference, rtol, atol):
    """uint8 pixels of |values - reference| and their scale (see NORMALISATION).

    Returns (pixels, scale): `scale` holds `difference_scale` (the |difference| shown white, 0 when
    none is beyond tolerance), `beyond_tolerance` (pixels with any channel beyond it), `pixels`.
    """
    values = np.asarray(values, dtype=np.float64)
    difference = np.abs(values - reference)
    beyond = beyond_tolerance(values, reference, rtol, atol)
    finite = beyond & np.isfinite(difference)
    white = float(difference[finite].max()) if finite.any() else 0.0
    pixels = np.zeros(difference.shape, dtype=np.uint8)
    if white > 0:
        pixels[finite] = np.rint(GREY_BEYOND + (255 - GREY_BEYOND) * difference[finite] / white).astype(np.uint8)
    pixels[beyond & ~finite] = 255
    per_pixel = beyond.reshape(beyond.shape[:2] + (-1,)).any(axis=2)
    return pixels, {"difference_scale": white, "beyond_tolerance": int(per_pixel.sum()), "pixels": int(per_pixel.size)}


def displayable(value):
    """Why `value` cannot be shown as an image, or "" if it can."""
    if not isinstance(value, np.ndarray):
        return f"returned a {type(value).__name__}, not a NumPy array"
    if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool) or np.iscomplexobj(value):
        return f"returned an array of dtype {value.dtype}"
    if value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3)):
        return "" if value.size else "returned an empty array"
    return f"returned shape {value.shape}, which is not an image"


def write_png(path, pixels):
    """Write RGB (or grey) uint8 pixels; OpenCV wants BGR."""
    import cv2

    pixels = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"cv2.imwrite could not write {path}")
