"""Known wrong answers for Q1, computed from the same input as the oracle.

Each `diagnose_*` function takes what the submission returned and the call's arguments and
returns the catalogue's Finding for the mistake (its hint has a keyword students
recognise), alternatives joined when several fit, or None.
"""
import math

import numpy as np

from graders.judge.mistakes import Catalogue, either
from graders.oracles import conv

CATALOGUE = Catalogue("q1")
PARAMS_NO_BIAS = CATALOGUE.add(
    "q1.params-no-bias", "conv parameters without bias",
    "parameter count without bias: each filter also has one bias, (k**d * in_channels + 1) * filters",
)
PARAMS_NO_CHANNELS = CATALOGUE.add(
    "q1.params-no-channels", "conv parameters without input channels",
    "input channels forgotten: each filter spans all in_channels, (k**d * in_channels + 1) * filters",
)
PARAMS_NO_BIAS_NO_CHANNELS = CATALOGUE.add(
    "q1.params-no-bias-no-channels", "conv parameters without bias and input channels",
    "both the bias and the input channels are missing: (k**d * in_channels + 1) * filters",
)
KERNEL_K_TIMES_D = CATALOGUE.add(
    "q1.kernel-k-times-d", "kernel volume k*d instead of k**d",
    "kernel volume k*d instead of k**d: a cubic d-dimensional kernel has k**d taps",
)
KERNEL_K_SQUARED = CATALOGUE.add(
    "q1.kernel-k-squared", "kernel volume k**2 for every kind",
    "kernel volume k**2 for every kind: a {kind} kernel has k**{d} taps (dimension)",
)
RANK_NO_CHANNELS = CATALOGUE.add(
    "q1.rank-no-channel-axis", "input rank without the channel axis",
    "channel axis forgotten: one sample has the spatial axes plus a channel axis",
)
RANK_BATCH_AXIS = CATALOGUE.add(
    "q1.rank-batch-axis", "input rank with the batch axis",
    "batch axis counted: the rank of ONE sample excludes the batch axis",
)
FIELD_N_TIMES_K = CATALOGUE.add(
    "q1.field-n-times-k", "receptive field n*k",
    "n*k counts the pixels the layers share twice: each extra layer widens the field by k-1, so n*(k-1)+1",
)
FIELD_NO_PLUS_ONE = CATALOGUE.add(
    "q1.field-no-plus-one", "receptive field without the +1",
    "off by one: n*(k-1) is missing the +1 of the centre pixel, n*(k-1)+1",
)
FIELD_EXTRA_LAYER = CATALOGUE.add(
    "q1.field-extra-layer", "receptive field with one layer too many",
    "off by one: one layer too many counted, (n+1)*(k-1)+1 instead of n*(k-1)+1",
)
FIELD_K_POWER_N = CATALOGUE.add(
    "q1.field-k-power-n", "receptive field k**n",
    "k**n: receptive fields of stride-1 layers grow linearly, n*(k-1)+1",
)
POOL_STRIDE_ONE = CATALOGUE.add(
    "q1.pool-stride-one", "pooling windows moved by 1",
    "wrong pooling stride: windows moved by 1 instead of {stride}",
)
POOL_DEFAULT_STRIDE_ONE = CATALOGUE.add(
    "q1.pool-default-stride-one", "default pooling stride taken as 1",
    "wrong pooling stride: windows moved by 1 instead of {stride} (strides=None means strides=pool_size)",
)
POOL_STRIDE_IGNORED = CATALOGUE.add(
    "q1.pool-stride-ignored", "pooling strides argument ignored",
    "wrong pooling stride: strides={stride} ignored, windows moved by pool_size={pool_size}",
)
MINMAX_SWAPPED = CATALOGUE.add(
    "q1.minmax-swapped", "min and max pooling swapped",
    "min and max swapped: mode={mode!r} returned the {other} of each window",
)
GLOBAL_MINMAX_SWAPPED = CATALOGUE.add(
    "q1.global-minmax-swapped", "global min and max swapped",
    "min and max swapped: mode={mode!r} returned the global {other}",
)
AVG_INTEGER = CATALOGUE.add(
    "q1.avg-integer", "integer arithmetic in average pooling",
    "integer arithmetic in average pooling (integer division, an integer/uint8 accumulator or result): compute the mean in float",
)
GLOBAL_AVG_INTEGER = CATALOGUE.add(
    "q1.global-avg-integer", "integer arithmetic in the global average",
    "integer arithmetic in the global average (integer division or an integer result): compute the mean in float",
)
POOL_CEIL = CATALOGUE.add(
    "q1.pool-ceil", "partial pooling windows kept (ceil)",
    "partial (padded) windows at the border kept, output size rounded up (ceil): valid pooling keeps full windows only, floor((H - p) / s) + 1",
)
POOL_LAST_DROPPED = CATALOGUE.add(
    "q1.pool-last-dropped", "last pooling row/column dropped",
    "last row/column dropped: the window loop stops one window early, use range(0, H - p + 1, s)",
)
GLOBAL_WRONG_AXES = CATALOGUE.add(
    "q1.global-wrong-axes", "global pooling over the wrong axes",
    "pooled over the wrong axes: global pooling reduces H and W and keeps one value per channel",
)
POOL_INTEGER_DTYPE = CATALOGUE.add(
    "q1.pool-integer-dtype", "pooled output kept an integer dtype",
    "output kept the input's integer dtype: the pooled output must be float",
)

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
        (k**d * c * f, PARAMS_NO_BIAS()),
        ((k**d + 1) * f, PARAMS_NO_CHANNELS()),
        (k**d * f, PARAMS_NO_BIAS_NO_CHANNELS()),
        ((k * d * c + 1) * f, KERNEL_K_TIMES_D()),
        ((k**2 * c + 1) * f, KERNEL_K_SQUARED(kind=kind, d=d)),
    ])


def diagnose_conv_input_rank(got, kind):
    """The spatial axes only (channel axis forgotten) or the batch axis counted."""
    d = _SPATIAL_DIMS[kind]
    return _matching(got, [
        (d, RANK_NO_CHANNELS()),
        (d + 2, RANK_BATCH_AXIS()),
    ])


def diagnose_receptive_field(got, n_layers, kernel_size):
    """n*k, n*(k-1) without the +1, or one layer counted twice."""
    n, k = n_layers, kernel_size
    return _matching(got, [
        (n * k, FIELD_N_TIMES_K()),
        (n * (k - 1), FIELD_NO_PLUS_ONE()),
        ((n + 1) * (k - 1) + 1, FIELD_EXTRA_LAYER()),
        (k**n, FIELD_K_POWER_N()),
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
        return (POOL_DEFAULT_STRIDE_ONE if strides is None else POOL_STRIDE_ONE)(stride=s)
    if s != pool_size and _same_values(got, conv.pool2d(x, pool_size, pool_size, mode)):
        return POOL_STRIDE_IGNORED(stride=s, pool_size=pool_size)
    if mode in _OTHER_MODE and _same_values(got, conv.pool2d(x, pool_size, strides, _OTHER_MODE[mode])):
        return MINMAX_SWAPPED(mode=mode, other=_OTHER_MODE[mode])
    if mode == "avg" and any(_same_values(got, wrong) for wrong in _avg_integer_variants(x, pool_size, strides)):
        return AVG_INTEGER()
    if got.ndim == x.ndim:
        rows, cols = got.shape[:2]
        valid_rows, valid_cols = _valid_length(h, pool_size, s), _valid_length(w, pool_size, s)
        if (rows, cols) != (valid_rows, valid_cols):
            if rows in _ceil_lengths(h, pool_size, s) | {valid_rows} and cols in _ceil_lengths(w, pool_size, s) | {valid_cols}:
                return POOL_CEIL()
            if rows in (valid_rows, valid_rows - 1) and cols in (valid_cols, valid_cols - 1):
                return POOL_LAST_DROPPED()
    return None


def diagnose_global_pool(got, x, mode):
    """Global min/max swapped, integer mean, or pooling over the wrong axes."""
    got = np.asarray(got)
    if mode in _OTHER_MODE and _same_values(got, conv.global_pool(x, _OTHER_MODE[mode])):
        return GLOBAL_MINMAX_SWAPPED(mode=mode, other=_OTHER_MODE[mode])
    if mode == "avg" and np.issubdtype(x.dtype, np.integer):
        exact = conv.global_pool(x, "avg")
        if any(_same_values(got, wrong) for wrong in (np.floor(exact), np.trunc(exact), np.rint(exact))):
            return GLOBAL_AVG_INTEGER()
    if x.ndim == 3 and got.shape in {(x.shape[0],), (x.shape[1],), ()}:
        return GLOBAL_WRONG_AXES()
    return None
