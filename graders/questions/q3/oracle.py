"""The contract's Q3 model in float64 NumPy: its weight shapes in Keras's order and its inference pass.

Judge side only. For hyperparameter values `values`, the contract's model is: per block i,
two Conv2D(filters * 2**(i+1), 3, padding="same", relu), MaxPooling2D(2, 2), Dropout; then
Flatten, `dense_layers` x (Dense(units, relu), Dropout(0.5)), Dense(10, softmax). Dropout is
the identity at inference, so it has no weights and no place here.
"""
import math

import numpy as np

INPUT_SHAPE = (32, 32, 3)
CLASSES = 10
BIAS_SCALE = 0.1  # small non-zero biases: a missing or misplaced bias changes the outputs


def conv_widths(values):
    """Filters of each Conv2D, in order: two per block, doubling from 2 * filters."""
    return [values["filters"] * 2 ** (block + 1) for block in range(values["conv_layers"]) for _ in range(2)]


def weight_shapes(values):
    """The contract model's weight shapes in `model.weights` order: kernel then bias per layer."""
    shapes, channels = [], INPUT_SHAPE[2]
    for width in conv_widths(values):
        shapes += [(3, 3, channels, width), (width,)]
        channels = width
    side = INPUT_SHAPE[0] // 2 ** values["conv_layers"]
    features = side * side * channels
    for _ in range(values["dense_layers"]):
        shapes += [(features, values["units"]), (values["units"],)]
        features = values["units"]
    return shapes + [(features, CLASSES), (CLASSES,)]


def parameter_count(shapes):
    """Parameters held by weights of these shapes (Python ints: no overflow, whatever a worker reports)."""
    return sum(math.prod(int(size) for size in shape) for shape in shapes)


def layer_parameter_counts(values):
    """Parameters of each layer with weights (kernel + bias), in order."""
    shapes = weight_shapes(values)
    return [parameter_count(shapes[index : index + 2]) for index in range(0, len(shapes), 2)]


def random_weights(values, rng):
    """Seeded float32 weights in the contract's order: He-uniform kernels, small biases.

    He scaling keeps the activations' scale through the relu layers, so the softmax is
    neither saturated nor flat and every weight moves the outputs. Uniform draws, with the
    variance of He-normal ones (2 / fan-in): a sixth of the time of normal draws, which for
    the up to 2.3 million weights of a point were a quarter of a Q3 architecture check.
    """
    weights = []
    for shape in weight_shapes(values):
        scale = BIAS_SCALE if len(shape) == 1 else np.sqrt(2.0 / math.prod(shape[:-1]))
        # Drawn in float32, as Keras holds them; U(-a, a) has variance a**2 / 3.
        half_width = np.float32(scale * np.sqrt(3.0))
        weights.append(rng.random(shape, dtype=np.float32) * (2 * half_width) - half_width)
    return weights


def random_inputs(rng, batch=2):
    """A seeded batch of images in [0, 1], float32, channels last."""
    return rng.random((batch, *INPUT_SHAPE)).astype(np.float32)


def conv3x3_same(x, kernel, bias):
    """Keras's Conv2D(kernel 3, padding="same"): cross-correlation, zero padding, (N, H, W, C) -> (N, H, W, F)."""
    n, height, width, channels = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = np.concatenate([padded[:, dy : dy + height, dx : dx + width, :] for dy in range(3) for dx in range(3)], axis=-1)
    return patches.reshape(n * height * width, 9 * channels) @ kernel.reshape(9 * channels, -1) + bias


def maxpool2(x):
    """MaxPooling2D(2, strides=2) on (N, H, W, C) with even H and W."""
    n, height, width, channels = x.shape
    return x.reshape(n, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


def relu(x):
    return np.maximum(x, 0.0)


def softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def forward(values, weights, x, logits=False):
    """The contract model's inference output (softmax probabilities, or logits) in float64.

    `weights` are in the order of `weight_shapes(values)`; `x` is (N, 32, 32, 3).
    """
    weights = [np.asarray(weight, dtype=np.float64) for weight in weights]
    expected = weight_shapes(values)
    if [weight.shape for weight in weights] != expected:
        raise ValueError(f"weights must have the shapes {expected}, got {[weight.shape for weight in weights]}")
    h = np.asarray(x, dtype=np.float64)
    n = h.shape[0]
    pairs = iter(zip(weights[0::2], weights[1::2]))
    for _ in range(values["conv_layers"]):
        for _ in range(2):
            kernel, bias = next(pairs)
            h = relu(conv3x3_same(h, kernel, bias)).reshape(n, h.shape[1], h.shape[2], -1)
        h = maxpool2(h)
    h = h.reshape(n, -1)
    for _ in range(values["dense_layers"]):
        kernel, bias = next(pairs)
        h = relu(h @ kernel + bias)
    kernel, bias = next(pairs)
    out = h @ kernel + bias
    return out if logits else softmax(out)
