"""Keras loaded without matplotlib's pyplot, which still works for a submission that plots."""
import json
import subprocess
import sys

from graders.layout import PROJECT_ROOT

# A fresh interpreter: this test process may have imported pyplot already.
SCRIPT = """
import json, sys
import numpy as np
from graders.worker import deferred_pyplot

deferred_pyplot.import_module("keras")
import keras
from keras.src.visualization import plot_image_gallery

facts = {"pyplot_after_keras": "matplotlib.pyplot" in sys.modules, "stand_in": type(plot_image_gallery.plt).__name__}
images = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
keras.visualization.plot_image_gallery(images, rows=2, cols=2, value_range=(0, 1), path="gallery.png")
facts["pyplot_after_plotting"] = "matplotlib.pyplot" in sys.modules
import matplotlib.pyplot as plt
facts["students_own_import"] = plt.figure is sys.modules["matplotlib.pyplot"].figure
print(json.dumps(facts))
"""


def test_keras_loads_without_pyplot_and_plots_with_the_real_one_when_asked(tmp_path):
    env = {"PYTHONPATH": str(PROJECT_ROOT), "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    facts = json.loads(completed.stdout.strip().splitlines()[-1])
    assert facts == {"pyplot_after_keras": False, "stand_in": "DeferredPyplot", "pyplot_after_plotting": True, "students_own_import": True}
    assert (tmp_path / "gallery.png").stat().st_size > 0
