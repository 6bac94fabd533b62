"""Known wrong answers for Q1, computed from the same input as the oracle.

Each `diagnose_*` function takes what the submission returned and the call's arguments and
returns the catalogue's Finding for the mistake (its hint has a keyword students
recognise), alternatives joined when several fit, or None.
"""
import math
from pathlib import Path

import numpy as np

from graders.judge.mistakes import Catalogue, either
from graders.oracles import conv

CATALOGUE = Catalogue.load(Path(__file__).with_name("mistakes.yaml"), "q1")


def __getattr__(name):
    """The catalogue's entries as this module's names too (`mistakes.SATURATION`)."""
    return getattr(CATALOGUE, name)

_SPATIAL_DIMS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_OTHER_MODE = {"max": "min", "min": "max"}


def _matching(got, candidates):
    """Every finding whose wrong answer equals got (several can coincide for one input); a number only."""
    if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
        return None  # an array or a string would compare elementwise or never
    return either(finding for wrong, finding in candidates if got == wrong)


def diagnose_conv_params(got, kind, kernel_size, in_channels, filters):
    """Parameter count without bias, without input channels, with k*d taps, or with k**2 taps."""
    d, k, c, f = _SPATIAL_DIMS[kind], kernel_size, in_channels, filters
    return _matching(got, [
        (k**d * c * f, CATALOGUE.PARAMS_NO_BIAS()),
        ((k**d + 1) * f, CATALOGUE.PARAMS_NO_CHANNELS()),
        (k**d * f, CATALOGUE.PARAMS_NO_BIAS_NO_CHANNELS()),
        ((k * d * c + 1) * f, CATALOGUE.KERNEL_K_TIMES_D()),
        ((k**2 * c + 1) * f, CATALOGUE.KERNEL_K_SQUARED(kind=kind, d=d)),
    ])


def diagnose_conv_input_rank(got, kind):
    """The spatial axes only (channel axis forgotten) or the batch axis counted."""
    d = _SPATIAL_DIMS[kind]
    return _matching(got, [
        (d, CATALOGUE.RANK_NO_CHANNELS()),
        (d + 2, CATALOGUE.RANK_BATCH_AXIS()),
    ])


def diagnose_receptive_field(got, n_layers, kernel_size):
    """n*k, n*(k-1) without the +1, or one layer counted twice."""
    n, k = n_layers, kernel_size
    return _matching(got, [
        (n * k, CATALOGUE.FIELD_N_TIMES_K()),
        (n * (k - 1), CATALOGUE.FIELD_NO_PLUS_ONE()),
        ((n + 1) * (k - 1) + 1, CATALOGUE.FIELD_EXTRA_LAYER()),
        (k**n, CATALOGUE.FIELD_K_POWER_N()),
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
        return (CATALOGUE.POOL_DEFAULT_STRIDE_ONE if strides is None else CATALOGUE.POOL_STRIDE_ONE)(stride=s)
    if s != pool_size and _same_values(got, conv.pool2d(x, pool_size, pool_size, mode)):
        return CATALOGUE.POOL_STRIDE_IGNORED(stride=s, pool_size=pool_size)
    if mode in _OTHER_MODE and _same_values(got, conv.pool2d(x, pool_size, strides, _OTHER_MODE[mode])):
        return CATALOGUE.MINMAX_SWAPPED(mode=mode, other=_OTHER_MODE[mode])
    if mode == "avg" and any(_same_values(got, wrong) for wrong in _avg_integer_variants(x, pool_size, strides)):
        return CATALOGUE.AVG_INTEGER()
    if got.ndim == x.ndim:
        rows, cols = got.shape[:2]
        valid_rows, valid_cols = _valid_length(h, pool_size, s), _valid_length(w, pool_size, s)
        if (rows, cols) != (valid_rows, valid_cols):
            if rows in _ceil_lengths(h, pool_size, s) | {valid_rows} and cols in _ceil_lengths(w, pool_size, s) | {valid_cols}:
                return CATALOGUE.POOL_CEIL()
            if rows in (valid_rows, valid_rows - 1) and cols in (valid_cols, valid_cols - 1):
                return CATALOGUE.POOL_LAST_DROPPED()
    return None


def diagnose_global_pool(got, x, mode):
    """Global min/max swapped, integer mean, or pooling over the wrong axes."""
    got = np.asarray(got)
    if mode in _OTHER_MODE and _same_values(got, conv.global_pool(x, _OTHER_MODE[mode])):
        return CATALOGUE.GLOBAL_MINMAX_SWAPPED(mode=mode, other=_OTHER_MODE[mode])
    if mode == "avg" and np.issubdtype(x.dtype, np.integer):
        exact = conv.global_pool(x, "avg")
        if any(_same_values(got, wrong) for wrong in (np.floor(exact), np.trunc(exact), np.rint(exact))):
            return CATALOGUE.GLOBAL_AVG_INTEGER()
    if x.ndim == 3 and got.shape in {(x.shape[0],), (x.shape[1],), ()}:
        return CATALOGUE.GLOBAL_WRONG_AXES()
    return None
