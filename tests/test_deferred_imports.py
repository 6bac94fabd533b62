"""Libraries loaded without the heavy modules they import for one feature, which still works when used."""
import importlib.util
import json
import subprocess
import sys

import pytest

from graders.layout import PROJECT_ROOT

# Fresh interpreters: this test process may have imported pyplot or scipy.optimize already.
PLOTTING = """
import json, sys
import numpy as np
from graders.worker import deferred_imports

deferred_imports.import_module("keras")
import keras
from keras.src.visualization import plot_image_gallery

from keras.src.visualization import plot_bounding_box_gallery

facts = {"matplotlib_after_keras": "matplotlib" in sys.modules, "stand_ins": [type(plot_image_gallery.plt).__name__, type(plot_bounding_box_gallery.patches).__name__]}
images = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
keras.visualization.plot_image_gallery(images, rows=2, cols=2, value_range=(0, 1), path="gallery.png")
facts["pyplot_after_plotting"] = "matplotlib.pyplot" in sys.modules
import matplotlib.pyplot as plt
facts["students_own_import"] = plt.figure is sys.modules["matplotlib.pyplot"].figure
from matplotlib import patches
facts["patches_through_the_stand_in"] = plot_bounding_box_gallery.patches.Patch is patches.Patch
print(json.dumps(facts))
"""

# keras-tuner's BayesianOptimization calls `scipy.optimize.minimize` through the name `scipy`
# its module bound at import (keras_tuner/src/tuners/bayesian.py), and refuses to start
# without scikit-learn, which this project does not install: the same refusal as before.
TUNING = """
import json, sys
from graders.worker import deferred_imports

deferred_imports.import_module("keras_tuner")
import keras_tuner
from keras_tuner.src.tuners import bayesian

facts = {"optimize_after_keras_tuner": "scipy.optimize" in sys.modules, "stand_in": bayesian.scipy.__name__}
found = bayesian.scipy.optimize.minimize(lambda v: (v[0] - 0.3) ** 2, [0.0])
facts["minimum"] = round(float(found.x[0]), 4)
facts["optimize_after_use"] = "scipy.optimize" in sys.modules
import scipy.optimize
facts["students_own_import"] = scipy.optimize.minimize is bayesian.scipy.optimize.minimize
try:
    keras_tuner.oracles.BayesianOptimizationOracle(objective=keras_tuner.Objective("score", "max"), max_trials=2)
    facts["refused"] = ""
except ImportError as error:
    facts["refused"] = "scikit-learn" if "scikit-learn" in str(error) else str(error)
print(json.dumps(facts))
"""


def _facts(script, tmp_path):
    env = {"PYTHONPATH": str(PROJECT_ROOT), "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    completed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_keras_loads_without_pyplot_and_plots_with_the_real_one_when_asked(tmp_path):
    facts = _facts(PLOTTING, tmp_path)
    assert facts == {
        "matplotlib_after_keras": False, "stand_ins": ["DeferredModule", "DeferredModule"], "pyplot_after_plotting": True, "students_own_import": True,
        "patches_through_the_stand_in": True,
    }
    assert (tmp_path / "gallery.png").stat().st_size > 0


def test_keras_tuner_loads_without_scipy_optimize_and_finds_it_when_bayesian_optimization_asks(tmp_path):
    facts = _facts(TUNING, tmp_path)
    assert facts == {
        "optimize_after_keras_tuner": False, "stand_in": "scipy", "minimum": 0.3, "optimize_after_use": True, "students_own_import": True,
        "refused": "" if importlib.util.find_spec("sklearn") else "scikit-learn",
    }


@pytest.mark.parametrize("hidden", ["matplotlib.pyplot", "matplotlib.patches", "scipy.optimize"])
def test_a_module_imported_before_is_neither_hidden_nor_replaced(hidden, tmp_path):
    script = f"""
import importlib, json, sys
real = importlib.import_module({hidden!r})
from graders.worker import deferred_imports
deferred_imports.import_module("keras_tuner")
from keras.src.visualization import plot_image_gallery
from keras.src.visualization import plot_bounding_box_gallery
from keras_tuner.src.tuners import bayesian
bound = {{
    "matplotlib.pyplot": plot_image_gallery.plt, "matplotlib.patches": plot_bounding_box_gallery.patches,
    "scipy.optimize": getattr(bayesian.scipy, "optimize", None),
}}[{hidden!r}]
print(json.dumps({{"same": bound is real, "kept": sys.modules[{hidden!r}] is real}}))
"""
    assert _facts(script, tmp_path) == {"same": True, "kept": True}
