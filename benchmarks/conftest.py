"""Options, parametrisation and shared inputs of the 2-D filtering benchmarks."""
import importlib.util
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from graders import layout

from benchmarks.implementations import IMPLEMENTATIONS, KERNELS

DEFAULT_SIZES = "256,1024,2048,4096"
SOLUTIONS_DIR = layout.REFERENCE_SUBMISSION
CHANNELS = {"gray": None, "rgb": 3}


def pytest_addoption(parser):
    group = parser.getgroup("hw9-bench", "hw9 filtering benchmarks")
    group.addoption(
        "--bench-sizes", default=os.environ.get("BENCH_SIZES", DEFAULT_SIZES),
        help=f"comma-separated square image sizes (env BENCH_SIZES; default {DEFAULT_SIZES})",
    )
    group.addoption(
        "--bench-kernels", default=os.environ.get("BENCH_KERNELS", ",".join(KERNELS)),
        help=f"comma-separated kernels out of {','.join(KERNELS)} (env BENCH_KERNELS)",
    )
    group.addoption(
        "--bench-submission", default=str(SOLUTIONS_DIR),
        help="submission folder whose q2.filter_keras / q2.filter_cv2 are timed (default: solutions/)",
    )


def _csv_option(config, name, allowed=None):
    values = [v.strip() for v in config.getoption(name).split(",") if v.strip()]
    unknown = [v for v in values if allowed is not None and v not in allowed]
    if not values or unknown:
        raise pytest.UsageError(f"{name} must list values out of {allowed or 'positive ints'}, got {values}")
    return values


def _sizes(config):
    values = _csv_option(config, "--bench-sizes")
    if not all(v.isdigit() and int(v) > 0 for v in values):
        raise pytest.UsageError(f"--bench-sizes must be positive ints, got {values}")
    return [int(v) for v in values]


def pytest_generate_tests(metafunc):
    if "size" not in metafunc.fixturenames:
        return
    config = metafunc.config
    kernels = _csv_option(config, "--bench-kernels", KERNELS)
    metafunc.parametrize("size", _sizes(config), ids=lambda s: f"{s}px")
    metafunc.parametrize("layout", list(CHANNELS))
    metafunc.parametrize("kernel_name", kernels)
    metafunc.parametrize("implementation", list(IMPLEMENTATIONS))


_IMAGES = {}


@pytest.fixture
def image(size, layout):
    """A seeded float32 image in [0, 255); the largest few are kept for the whole run."""
    key = (size, layout)
    if key not in _IMAGES:
        rng = np.random.default_rng(zlib.crc32(f"{size}-{layout}".encode()))
        shape = (size, size) if CHANNELS[layout] is None else (size, size, CHANNELS[layout])
        _IMAGES.clear()  # parametrisation runs one (size, layout) after another
        _IMAGES[key] = (rng.random(shape, dtype=np.float32) * 255).astype(np.float32)
    return _IMAGES[key]


@pytest.fixture(scope="session")
def bench_submission_q2(request):
    """The q2 module of --bench-submission, loaded by path under a unique module name.

    Returns None with the reason when it cannot be loaded, so only its cases skip.
    """
    folder = Path(request.config.getoption("--bench-submission")).resolve()
    path = folder / "q2.py"
    if not path.is_file():
        return None, f"no q2.py in the submission folder {folder}"
    name = f"bench_submission_q2_{zlib.crc32(str(path).encode()):08x}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # a submission's q2 may import its own sibling modules
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a broken submission skips its cases, not the whole run
        return None, f"importing {path} failed: {error!r}"
    finally:
        sys.path.remove(str(folder))
    return module, str(path)
