"""LocallyConnected2D for Keras 3: the Keras 2 layer (implementation=1) that Keras 3 removed.

Weights layout and numerics follow `tf_keras.layers.LocallyConnected2D` with
`implementation=1`, so `set_weights(keras2_layer.get_weights())` reproduces its output:

- kernel `(out_rows * out_cols, kernel_h * kernel_w * in_channels, filters)`; output
  positions are numbered row-major, and each patch is flattened in `(kh, kw, channel)`
  row-major order;
- bias `(out_rows, out_cols, filters)`.
"""
import numbers

import keras
from keras import ops

_CHANNELS_LAST = "channels_last"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_positive_int(value):
    return _is_int(value) and value > 0


def normalize_pair(name, value):
    """An int or a pair of ints -> a pair of positive Python ints; anything else is a ValueError."""
    pair = (value, value) if _is_int(value) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2 or not all(_is_positive_int(v) for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {name}={value!r}")
    return tuple(int(v) for v in pair)


def locally_connected2d_output_shape(input_shape, filters, kernel_size, strides=1):
    """Valid (unpadded) output shape `(out_rows, out_cols, filters)` for an input `(h, w, c)`."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (h, w, c), got input_shape={input_shape!r}")
    if not all(_is_positive_int(v) for v in input_shape):
        raise ValueError(f"input_shape must hold positive ints, got input_shape={tuple(input_shape)!r}")
    if not _is_positive_int(filters):
        raise ValueError(f"filters must be a positive int, got filters={filters!r}")
    kernel = normalize_pair("kernel_size", kernel_size)
    stride = normalize_pair("strides", strides)
    spatial = tuple(input_shape[:2])
    if any(k > n for k, n in zip(kernel, spatial)):
        raise ValueError(f"kernel_size={kernel} is larger than the input {spatial[0]}x{spatial[1]}")
    rows, cols = ((n - k) // s + 1 for n, k, s in zip(spatial, kernel, stride))
    return (rows, cols, filters)


def locally_connected2d_param_count(input_shape, filters, kernel_size, strides=1, use_bias=True):
    """Unshared weights: one kernel (and one bias) per output position and filter."""
    rows, cols, _ = locally_connected2d_output_shape(input_shape, filters, kernel_size, strides)
    kh, kw = normalize_pair("kernel_size", kernel_size)
    per_position = kh * kw * input_shape[2] * filters + (filters if use_bias else 0)
    return rows * cols * per_position


@keras.saving.register_keras_serializable(package="hw9")
class LocallyConnected2D(keras.layers.Layer):
    """2-D convolution with unshared weights: a different filter bank at every output position.

    Channels-last inputs `(batch, rows, cols, channels)` only, `padding="valid"` only.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not _is_positive_int(filters):
            raise ValueError(f"filters must be a positive int, got filters={filters!r}")
        if not isinstance(padding, str) or padding.lower() != "valid":
            raise ValueError(f'padding must be "valid" (the only mode supported), got padding={padding!r}')
        if data_format not in (None, _CHANNELS_LAST):
            raise ValueError(f'data_format must be "channels_last", got data_format={data_format!r}')
        self.filters = int(filters)
        self.kernel_size = normalize_pair("kernel_size", kernel_size)
        self.strides = normalize_pair("strides", strides)
        self.padding = "valid"
        self.data_format = _CHANNELS_LAST
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.InputSpec(ndim=4)

    def _spatial_output_shape(self, input_shape):
        rows, cols, channels = input_shape[1:]
        if rows is None or cols is None or channels is None:
            raise ValueError(
                "LocallyConnected2D needs fully defined rows, cols and channels, "
                f"got input_shape={tuple(input_shape)!r}"
            )
        out_rows, out_cols, _ = locally_connected2d_output_shape(
            (rows, cols, channels), self.filters, self.kernel_size, self.strides
        )
        return out_rows, out_cols

    def build(self, input_shape):
        out_rows, out_cols = self._spatial_output_shape(input_shape)
        channels = input_shape[-1]
        kh, kw = self.kernel_size
        self.output_rows, self.output_cols = out_rows, out_cols
        self.kernel = self.add_weight(
            name="kernel",
            shape=(out_rows * out_cols, kh * kw * channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(out_rows, out_cols, self.filters),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})

    def _patches(self, inputs):
        """(batch, rows, cols, c) -> (out_rows * out_cols, batch, kh * kw * c), Keras 2's order."""
        kh, kw = self.kernel_size
        sh, sw = self.strides
        rows, cols = self.output_rows, self.output_cols
        row_span, col_span = sh * (rows - 1) + 1, sw * (cols - 1) + 1
        # One strided slice per kernel tap gives that tap's pixel at every output position.
        taps = [
            inputs[:, i : i + row_span : sh, j : j + col_span : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]
        patches = ops.stack(taps, axis=3)  # (batch, rows, cols, kh * kw, c)
        patches = ops.reshape(patches, (-1, rows * cols, kh * kw * inputs.shape[-1]))
        return ops.transpose(patches, (1, 0, 2))

    def call(self, inputs):
        # A batched matmul over positions, as Keras 2's local_conv does, keeps the sums identical.
        outputs = ops.matmul(self._patches(inputs), self.kernel)  # (positions, batch, filters)
        outputs = ops.reshape(
            ops.transpose(outputs, (1, 0, 2)), (-1, self.output_rows, self.output_cols, self.filters)
        )
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        out_rows, out_cols = self._spatial_output_shape(input_shape)
        return (input_shape[0], out_rows, out_cols, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
