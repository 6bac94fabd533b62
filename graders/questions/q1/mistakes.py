"""Known wrong answers for Q1, computed from the same input as the oracle.

Each `diagnose_*` function takes what the submission returned and the call's arguments and
returns a short explanation naming the mistake (with a keyword students recognise), or None.
"""
import math

import numpy as np

from graders.oracles import conv

_SPATIAL_DIMS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_OTHER_MODE = {"max": "min", "min": "max"}


def _matching(got, candidates):
    """Every explanation whose wrong answer equals got (several can coincide for one input)."""
    return "; or ".join(explanation for wrong, explanation in candidates if got == wrong) or None


def diagnose_conv_params(got, kind, kernel_size, in_channels, filters):
    """Parameter count without bias, without input channels, with k*d taps, or with k**2 taps."""
    d, k, c, f = _SPATIAL_DIMS[kind], kernel_size, in_channels, filters
    return _matching(got, [
        (k**d * c * f, "parameter count without bias: each filter also has one bias, (k**d * in_channels + 1) * filters"),
        ((k**d + 1) * f, "input channels forgotten: each filter spans all in_channels, (k**d * in_channels + 1) * filters"),
        (k**d * f, "both the bias and the input channels are missing: (k**d * in_channels + 1) * filters"),
        ((k * d * c + 1) * f, "kernel volume k*d instead of k**d: a cubic d-dimensional kernel has k**d taps"),
        ((k**2 * c + 1) * f, f"kernel volume k**2 for every kind: a {kind} kernel has k**{d} taps (dimension)"),
    ])


def diagnose_conv_input_rank(got, kind):
    """The spatial axes only (channel axis forgotten) or the batch axis counted."""
    d = _SPATIAL_DIMS[kind]
    return _matching(got, [
        (d, "channel axis forgotten: one sample has the spatial axes plus a channel axis"),
        (d + 2, "batch axis counted: the rank of ONE sample excludes the batch axis"),
    ])


def diagnose_receptive_field(got, n_layers, kernel_size):
    """n*k, n*(k-1) without the +1, or one layer counted twice."""
    n, k = n_layers, kernel_size
    return _matching(got, [
        (n * k, "n*k counts the pixels the layers share twice: each extra layer widens the field by k-1, so n*(k-1)+1"),
        (n * (k - 1), "off by one: n*(k-1) is missing the +1 of the centre pixel, n*(k-1)+1"),
        ((n + 1) * (k - 1) + 1, "off by one: one layer too many counted, (n+1)*(k-1)+1 instead of n*(k-1)+1"),
        (k**n, "k**n: receptive fields of stride-1 layers grow linearly, n*(k-1)+1"),
    ])


def _same_values(got, candidate):
    got, candidate = np.asarray(got, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    return got.shape == candidate.shape and bool(np.isclose(got, candidate, rtol=1e-5, atol=1e-4).all())


def _avg_integer_variants(x, pool_size, strides):
    """What an average pool gives with integer arithmetic: floor division (float inputs too), a
    result cast to int (trunc, round), or a sum accumulated in uint8 (wrap-around)."""
    exact = conv.pool2d(x, pool_size, strides, "avg")
    variants = [np.floor(exact)]
    if np.issubdtype(x.dtype, np.integer):
        wrapped = np.mod(np.rint(exact * pool_size * pool_size), 256) / (pool_size * pool_size)
        variants += [np.trunc(exact), np.rint(exact), wrapped, np.floor(wrapped)]
    return variants


def _valid_length(n, p, s):
    return (n - p) // s + 1


def _ceil_lengths(n, p, s):
    return {math.ceil((n - p) / s) + 1, math.ceil(n / s)}


def diagnose_pool2d(got, x, pool_size, strides, mode):
    """Name the pooling mistake `got` matches: stride, integer average, ceil/padded windows, dropped edge, min/max swap."""
    got = np.asarray(got)
    s = pool_size if strides is None else strides
    h, w = x.shape[:2]
    if _same_values(got, conv.pool2d(x, pool_size, 1, mode)) and s != 1:
        default = " (strides=None means strides=pool_size)" if strides is None else ""
        return f"wrong pooling stride: windows moved by 1 instead of {s}{default}"
    if s != pool_size and _same_values(got, conv.pool2d(x, pool_size, pool_size, mode)):
        return f"wrong pooling stride: strides={s} ignored, windows moved by pool_size={pool_size}"
    if mode in _OTHER_MODE and _same_values(got, conv.pool2d(x, pool_size, strides, _OTHER_MODE[mode])):
        return f"min and max swapped: mode={mode!r} returned the {_OTHER_MODE[mode]} of each window"
    if mode == "avg" and any(_same_values(got, wrong) for wrong in _avg_integer_variants(x, pool_size, strides)):
            return "integer arithmetic in average pooling (integer division, an integer/uint8 accumulator or result): compute the mean in float"
    if got.ndim == x.ndim:
        rows, cols = got.shape[:2]
        valid_rows, valid_cols = _valid_length(h, pool_size, s), _valid_length(w, pool_size, s)
        if (rows, cols) != (valid_rows, valid_cols):
            if rows in _ceil_lengths(h, pool_size, s) | {valid_rows} and cols in _ceil_lengths(w, pool_size, s) | {valid_cols}:
                return "partial (padded) windows at the border kept, output size rounded up (ceil): valid pooling keeps full windows only, floor((H - p) / s) + 1"
            if rows in (valid_rows, valid_rows - 1) and cols in (valid_cols, valid_cols - 1):
                return "last row/column dropped: the window loop stops one window early, use range(0, H - p + 1, s)"
    return None


def diagnose_global_pool(got, x, mode):
    """Global min/max swapped, integer mean, or pooling over the wrong axes."""
    got = np.asarray(got)
    if mode in _OTHER_MODE and _same_values(got, conv.global_pool(x, _OTHER_MODE[mode])):
        return f"min and max swapped: mode={mode!r} returned the global {_OTHER_MODE[mode]}"
    if mode == "avg" and np.issubdtype(x.dtype, np.integer):
        exact = conv.global_pool(x, "avg")
        if any(_same_values(got, wrong) for wrong in (np.floor(exact), np.trunc(exact), np.rint(exact))):
            return "integer arithmetic in the global average (integer division or an integer result): compute the mean in float"
    if x.ndim == 3 and got.shape in {(x.shape[0],), (x.shape[1],), ()}:
        return "pooled over the wrong axes: global pooling reduces H and W and keeps one value per channel"
    return None
