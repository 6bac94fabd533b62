"""Float64 NumPy reference convolution and pooling: the oracle the graders judge against.

Independent of Keras, TensorFlow, OpenCV and SciPy on purpose, so it can judge code that
uses them. Every routine loops over kernel (or window) taps and does whole-array work per
tap, so memory stays proportional to the output.
"""
import itertools
import math

import numpy as np

_POOL_MODES = ("avg", "max", "min")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_positive_int(name, value):
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


def _check_real_numeric(name, array):
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise ValueError(f"{name} must be a real numeric array, got {name}.dtype={array.dtype}")


def _as_float64(name, array):
    """A float64 copy of a real numeric array (never a view of the caller's data)."""
    array = np.asarray(array)
    _check_real_numeric(name, array)
    return np.array(array, dtype=np.float64, copy=True)


def conv_output_length(input_length, kernel_size, stride=1, padding=0):
    """Output length of a convolution along one axis: floor((n - k + 2p) / s) + 1."""
    n = _check_positive_int("input_length", input_length)
    k = _check_positive_int("kernel_size", kernel_size)
    s = _check_positive_int("stride", stride)
    if not _is_int(padding) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got padding={padding!r}")
    if k > n + 2 * padding:
        raise ValueError(
            f"kernel_size={k} is larger than the padded input "
            f"(input_length={n}, padding={padding})"
        )
    return (n - k + 2 * padding) // s + 1


def same_padding(input_length, kernel_size, stride=1):
    """TF/Keras "same" padding (before, after): the extra pixel, if any, goes after."""
    n = _check_positive_int("input_length", input_length)
    k = _check_positive_int("kernel_size", kernel_size)
    s = _check_positive_int("stride", stride)
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _normalize_strides(strides, n_dims):
    values = (strides,) * n_dims if _is_int(strides) else tuple(np.atleast_1d(strides).tolist())
    if len(values) != n_dims or not all(_is_int(v) and v > 0 for v in values):
        raise ValueError(
            f"strides must be a positive int or {n_dims} positive ints, got strides={strides!r}"
        )
    return tuple(int(v) for v in values)


def _is_pair(value):
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value))


def _normalize_padding(padding, spatial_shape, kernel_spatial, strides):
    """Per-axis (before, after) zero-padding amounts."""
    n_dims = len(spatial_shape)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n_dims
        if padding == "same":
            return tuple(map(same_padding, spatial_shape, kernel_spatial, strides))
        raise ValueError(f"padding must be 'valid', 'same' or ints, got padding={padding!r}")
    if _is_int(padding):
        pairs = ((padding, padding),) * n_dims
    elif isinstance(padding, (tuple, list)) and len(padding) == n_dims:
        pairs = tuple((p, p) if _is_int(p) else p for p in padding)
    else:
        pairs = None
    if pairs is None or not all(_is_pair(p) and min(p) >= 0 for p in pairs):
        raise ValueError(
            f"padding must be 'valid', 'same', a non-negative int or {n_dims} per-axis ints "
            f"or (before, after) pairs, got padding={padding!r}"
        )
    return tuple((int(b), int(a)) for b, a in pairs)


def _tap_slice(offset, stride, out_length):
    return slice(offset, offset + stride * (out_length - 1) + 1, stride)


def correlate(x, kernel, strides=1, padding="valid", bias=None):
    """N-D cross-correlation in Keras layout, computed in float64.

    x is (batch, *spatial, in_channels), kernel is (*kernel_spatial, in_channels, filters);
    returns (batch, *out_spatial, filters). Zero padding; bias (filters,) is added if given.
    """
    x = _as_float64("x", x)
    kernel = _as_float64("kernel", kernel)
    if x.ndim < 3:
        raise ValueError(f"x must be (batch, *spatial, in_channels), got x.shape={x.shape}")
    n_dims = x.ndim - 2
    if kernel.ndim != n_dims + 2 or kernel.shape[-2] != x.shape[-1] or 0 in kernel.shape:
        raise ValueError(
            f"kernel must be (*kernel_spatial, in_channels={x.shape[-1]}, filters) with "
            f"{n_dims} spatial axes, got kernel.shape={kernel.shape}"
        )
    if 0 in x.shape:
        raise ValueError(f"x must not have empty axes, got x.shape={x.shape}")
    filters = kernel.shape[-1]
    if bias is not None:
        bias = _as_float64("bias", bias)
        if bias.shape != (filters,):
            raise ValueError(f"bias must have shape ({filters},), got bias.shape={bias.shape}")
    spatial, kernel_spatial = x.shape[1:-1], kernel.shape[:n_dims]
    strides = _normalize_strides(strides, n_dims)
    pads = _normalize_padding(padding, spatial, kernel_spatial, strides)
    for axis, (n, k, (before, after)) in enumerate(zip(spatial, kernel_spatial, pads)):
        if k > n + before + after:
            raise ValueError(
                f"kernel size {k} on spatial axis {axis} is larger than the padded input "
                f"(length {n}, padding={(before, after)})"
            )
    out_spatial = tuple(
        (n + before + after - k) // s + 1
        for n, k, s, (before, after) in zip(spatial, kernel_spatial, strides, pads)
    )
    padded = np.pad(x, ((0, 0), *pads, (0, 0)))
    out = np.zeros((x.shape[0], *out_spatial, filters))
    for tap in itertools.product(*map(range, kernel_spatial)):
        window = padded[(slice(None), *map(_tap_slice, tap, strides, out_spatial))]
        out += window @ kernel[tap]
    if bias is not None:
        out += bias
    return out


def check_filter2d_args(image, kernel):
    """Raise ValueError unless image is a real (H, W[, C]) array and kernel a 2-D odd-sized one."""
    _check_real_numeric("image", image)
    _check_real_numeric("kernel", kernel)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(
            f"kernel must be a 2-D array with odd height and width, got kernel.shape={kernel.shape}"
        )
    if image.ndim not in (2, 3) or 0 in image.shape:
        raise ValueError(f"image must be (H, W) or (H, W, C), got image.shape={image.shape}")


def filter2d(image, kernel):
    """Per-channel 2-D cross-correlation, zero padding, centred anchor, same shape, float64."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    check_filter2d_args(image, kernel)
    image = image.astype(np.float64)
    kernel = kernel.astype(np.float64)
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)) + ((0, 0),) * (image.ndim - 2))
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    for i, j in itertools.product(range(kh), range(kw)):
        out += kernel[i, j] * padded[i:i + h, j:j + w]
    return out


def _check_pool_mode(mode):
    if mode not in _POOL_MODES:
        raise ValueError(f"mode must be one of {list(_POOL_MODES)}, got mode={mode!r}")


def _check_image_rank(x):
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise ValueError(f"x must be (H, W) or (H, W, C), got x.shape={x.shape}")


def pool2d(x, pool_size=2, strides=None, mode="max"):
    """2-D pooling over (H, W) or (H, W, C), valid windows only, float64."""
    _check_pool_mode(mode)
    p = _check_positive_int("pool_size", pool_size)
    s = p if strides is None else _check_positive_int("strides", strides)
    x = _as_float64("x", x)
    _check_image_rank(x)
    h, w = x.shape[:2]
    if p > h or p > w:
        raise ValueError(f"pool_size={p} is larger than the input (H, W)=({h}, {w})")
    oh, ow = (h - p) // s + 1, (w - p) // s + 1
    taps = (x[_tap_slice(i, s, oh), _tap_slice(j, s, ow)] for i in range(p) for j in range(p))
    out = next(taps).copy()
    combine = {"max": np.maximum, "min": np.minimum, "avg": np.add}[mode]
    for window in taps:
        combine(out, window, out=out)
    if mode == "avg":
        out /= p * p
    return out


def global_pool(x, mode="avg"):
    """Global pooling: (H, W, C) -> (C,), (H, W) -> 0-d array, float64."""
    _check_pool_mode(mode)
    x = _as_float64("x", x)
    _check_image_rank(x)
    reduce = {"max": np.max, "min": np.min, "avg": np.mean}[mode]
    return np.asarray(reduce(x, axis=(0, 1)))
