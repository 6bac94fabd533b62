"""Q1: convolution dimensionality, kernel sizes, stacked receptive fields and pooling."""
import numpy as np

_SPATIAL_DIMS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_POOL_REDUCERS = {"max": np.max, "avg": np.mean, "min": np.min}


def _spatial_dims(kind):
    if kind not in _SPATIAL_DIMS:
        raise ValueError(f"kind must be one of {sorted(_SPATIAL_DIMS)}, got kind={kind!r}")
    return _SPATIAL_DIMS[kind]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


def _reducer(mode):
    if mode not in _POOL_REDUCERS:
        raise ValueError(f"mode must be one of {sorted(_POOL_REDUCERS)}, got mode={mode!r}")
    return _POOL_REDUCERS[mode]


def conv_params(kind, kernel_size, in_channels, filters):
    """Trainable parameters of a conv layer with a cubic kernel and a bias."""
    d = _spatial_dims(kind)
    k = _positive_int("kernel_size", kernel_size)
    c = _positive_int("in_channels", in_channels)
    f = _positive_int("filters", filters)
    return (k**d * c + 1) * f


def conv_input_rank(kind):
    """Rank of one sample (no batch axis): the spatial axes plus the channel axis."""
    return _spatial_dims(kind) + 1


def stacked_receptive_field(n_layers, kernel_size=3):
    """Receptive field of n stacked stride-1 convolutions: each adds k - 1 pixels."""
    n = _positive_int("n_layers", n_layers)
    k = _positive_int("kernel_size", kernel_size)
    return n * (k - 1) + 1


def pool2d(x, pool_size=2, strides=None, mode="max"):
    """2-D pooling over (H, W) or (H, W, C) with valid windows only."""
    reduce = _reducer(mode)
    p = _positive_int("pool_size", pool_size)
    s = p if strides is None else _positive_int("strides", strides)
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got x.shape={x.shape}")
    h, w = x.shape[:2]
    if p > h or p > w:
        raise ValueError(f"pool_size={p} is larger than the input {h}x{w}")
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (p, p), axis=(0, 1))
    return reduce(windows[::s, ::s], axis=(-2, -1))


def global_pool(x, mode="avg"):
    """Global pooling: (H, W, C) -> (C,), (H, W) -> 0-d array."""
    reduce = _reducer(mode)
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got x.shape={x.shape}")
    return np.asarray(reduce(x.astype(np.float64), axis=(0, 1)))
