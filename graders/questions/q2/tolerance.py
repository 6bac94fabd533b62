"""How close a filter's output must be to the float64 oracle: shared by the checks and the Q2 gallery."""
import numpy as np


def filter_tolerance(image, kernel):
    """(rtol, atol) for a result computed in float32.

    Keras computes in float32 (24-bit mantissa, eps 1.2e-7). A sum of k*k products
    rounds to within about k*k*eps of its scale max|image| * sum|kernel|, 3e-6 of it for a
    5x5 kernel; Keras on CPU measured 1e-7 of it. So 1e-5 of the scale is loose for float32
    yet far below the 0.5 of rounding to integers (scale 255 for a blurred uint8 image).
    """
    scale = float(np.abs(np.asarray(image, dtype=np.float64)).max() * np.abs(kernel).sum())
    return 1e-5, 1e-5 * scale + 1e-6


def beyond_tolerance(got, expected, rtol, atol):
    """Where |got - expected| exceeds atol + rtol * |expected|, as np.testing.assert_allclose judges
    (NaN and infinities where the oracle is finite count as beyond)."""
    difference = np.abs(np.asarray(got, dtype=np.float64) - expected)
    return ~(difference <= atol + rtol * np.abs(expected))
