"""Q4: output shapes and parameter counts of conv, pooling, locally-connected and dense layers."""


def _check_positive(**values):
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {name}={value!r}")


def _check_shape(input_shape):
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (h, w, c), got input_shape={input_shape!r}")
    _check_positive(height=input_shape[0], width=input_shape[1], channels=input_shape[2])
    return tuple(input_shape)


def _output_length(length, window, stride, padding):
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got padding={padding!r}")
    if window > length + 2 * padding:
        raise ValueError(
            f"kernel_size/pool_size={window} is larger than the padded input {length + 2 * padding}"
        )
    return (length - window + 2 * padding) // stride + 1


def conv2d_output_shape(input_shape, filters, kernel_size, strides=1, padding=0):
    """(floor((h - k + 2p) / s) + 1, same for w, filters)."""
    h, w, _ = _check_shape(input_shape)
    _check_positive(filters=filters, kernel_size=kernel_size, strides=strides)
    return (
        _output_length(h, kernel_size, strides, padding),
        _output_length(w, kernel_size, strides, padding),
        filters,
    )


def pool2d_output_shape(input_shape, pool_size, strides=None):
    """Valid pooling: floor((h - p) / s) + 1; channels unchanged."""
    h, w, c = _check_shape(input_shape)
    strides = pool_size if strides is None else strides
    _check_positive(pool_size=pool_size, strides=strides)
    return (_output_length(h, pool_size, strides, 0), _output_length(w, pool_size, strides, 0), c)


def conv2d_params(input_shape, filters, kernel_size):
    """Shared k x k x c kernel per filter plus one bias per filter."""
    _, _, c = _check_shape(input_shape)
    _check_positive(filters=filters, kernel_size=kernel_size)
    return (kernel_size * kernel_size * c + 1) * filters


def locally_connected2d_params(input_shape, filters, kernel_size, strides=1, padding=0):
    """Unshared weights: one kernel and one bias per output position and filter."""
    oh, ow, f = conv2d_output_shape(input_shape, filters, kernel_size, strides, padding)
    c = input_shape[2]
    return oh * ow * (kernel_size * kernel_size * c * f) + oh * ow * f


def dense_params(in_units, units):
    """(in_units + 1) * units: a weight per input and a bias per unit."""
    _check_positive(in_units=in_units, units=units)
    return (in_units + 1) * units


def _row(layer, output_shape, params):
    size = 1
    for length in output_shape:
        size *= length
    return {"layer": layer, "output_shape": tuple(output_shape), "out_size": size, "params": params}


def layer_table():
    """Input (28, 28, 1) -> Conv2D(20, 7) -> MaxPool(2) -> Conv2D(10, 5) -> LC2D(2, 3) -> Flatten -> Dense(10)."""
    shape = (28, 28, 1)
    rows = [_row("Input", shape, 0)]
    conv1 = conv2d_output_shape(shape, 20, 7)
    rows.append(_row("Conv2D", conv1, conv2d_params(shape, 20, 7)))
    pool = pool2d_output_shape(conv1, 2, 2)
    rows.append(_row("MaxPool2D", pool, 0))
    conv2 = conv2d_output_shape(pool, 10, 5)
    rows.append(_row("Conv2D", conv2, conv2d_params(pool, 10, 5)))
    local = conv2d_output_shape(conv2, 2, 3)
    rows.append(_row("LocallyConnected2D", local, locally_connected2d_params(conv2, 2, 3)))
    flat = (local[0] * local[1] * local[2],)
    rows.append(_row("Flatten", flat, 0))
    rows.append(_row("Dense", (10,), dense_params(flat[0], 10)))
    return rows
