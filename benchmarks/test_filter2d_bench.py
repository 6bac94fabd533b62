"""Time each 2-D filtering implementation on float32 gray and RGB images.

Parametrised in conftest.py by --bench-sizes, --bench-kernels and the implementation
registry; every result carries its case in extra_info for ratio_table.py.
"""
import cv2
import numpy as np

from benchmarks.implementations import IMPLEMENTATIONS, KERNELS


def _reference(image, kernel):
    """cv2 in float64: independent of the float32 paths being timed."""
    return cv2.filter2D(image.astype(np.float64), cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)


def test_filter2d(benchmark, image, size, layout, kernel_name, implementation, bench_submission_q2):
    kernel = KERNELS[kernel_name].astype(np.float32)
    runner = IMPLEMENTATIONS[implementation](kernel, size, bench_submission_q2)
    benchmark.group = f"{size}px {layout} {kernel_name}"
    benchmark.extra_info.update(
        implementation=implementation, size=size, layout=layout, kernel=kernel_name
    )
    warm = runner(image)  # builds Keras graphs and thread pools outside the timing
    scale = float(np.abs(image).max() * np.abs(kernel).sum())
    np.testing.assert_allclose(
        np.asarray(warm, dtype=np.float64).reshape(image.shape),
        _reference(image, kernel.astype(np.float64)).reshape(image.shape),
        rtol=1e-4, atol=1e-5 * scale,
    )
    benchmark(runner, image)
