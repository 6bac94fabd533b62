"""Q1 checks: parameter counts, input ranks, receptive fields, pooling."""
import numpy as np
import pytest

from graders.verdict import expect_close, value_of

GOLDEN_POOL_INPUT = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]])
GOLDEN_POOL_OUTPUT = {
    "max": [[9, 7], [8, 6]],
    "avg": [[4.25, 4.25], [4.25, 3.5]],
    "min": [[2, 1], [1, 2]],
}


@pytest.mark.parametrize("mode", sorted(GOLDEN_POOL_OUTPUT))
def test_pool2d_golden(student, mode):
    checked = f"pool2d(golden 4x4 example, pool_size=2, mode={mode!r})"
    got = value_of(student.call("q1", "pool2d", GOLDEN_POOL_INPUT, pool_size=2, mode=mode), checked)
    expect_close(got, GOLDEN_POOL_OUTPUT[mode], checked, rtol=0, atol=1e-9)
