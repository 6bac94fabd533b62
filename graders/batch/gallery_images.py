"""Q2 pictures for the student page: a fixed test image, filtered, as PNGs a person can compare."""
import numpy as np

IMAGE_SIZE = 64
NORMALISATION = (
    "Display: the student's output and the reference share one scale s = max|reference| per kernel. "
    "Kernels with negative weights (Laplacian, Sobel) map v to 128 + 127 v/s (zero is mid-grey, +s white, -s black); "
    "the blur maps v to 255 v/s; values outside are clipped. "
    "The difference image is 255 |student - reference| / s: black where they agree, white where they differ by s or more."
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


def difference_display(values, reference):
    difference = np.abs(np.asarray(values, dtype=np.float64) - reference)
    difference = np.nan_to_num(difference, nan=_scale(reference), posinf=_scale(reference))
    return np.clip(np.rint(255 * difference / _scale(reference)), 0, 255).astype(np.uint8)


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
