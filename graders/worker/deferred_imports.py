"""Libraries loaded without the heavy modules they import at load time for one rarely used feature.

- Keras imports matplotlib's pyplot (0.2-0.9 s of CPU) for
  `keras.visualization.plot_image_gallery` alone, and falls back to `plt = None` when it cannot.
- keras-tuner imports `scipy.optimize` (about 0.2 s) for `BayesianOptimization` alone, and
  falls back to `scipy = None` when it cannot.

The fork server, hw9-grade's host, every judge and every fresh worker load these libraries;
hardly a submission plots or tunes by Bayesian optimization. `import_module` loads a library
with those modules hidden, then gives the library's module a stand-in that imports the real
one at its first use: a submission that uses the feature, or imports the module itself, gets
the real one.
"""
import importlib
import sys
from dataclasses import dataclass

PYPLOT = "matplotlib.pyplot"
KERAS_GALLERY = "keras.src.visualization.plot_image_gallery"
SCIPY_OPTIMIZE = "scipy.optimize"
KERAS_TUNER_BAYESIAN = "keras_tuner.src.tuners.bayesian"


class DeferredPyplot:
    """matplotlib.pyplot, imported at the first attribute asked of it."""

    def __getattr__(self, name):
        return getattr(importlib.import_module(PYPLOT), name)


def _scipy():
    """SciPy itself: it imports a submodule such as `scipy.optimize` at the first access."""
    return importlib.import_module("scipy")


@dataclass(frozen=True)
class Deferred:
    """`hidden`, which `importer` binds as `name` (None when the import failed) at load time."""

    hidden: str
    importer: str
    name: str
    stand_in: object  # () -> what `name` is bound to instead

    def restore(self):
        module = sys.modules.get(self.importer)
        if module is not None and getattr(module, self.name, False) is None:
            setattr(module, self.name, self.stand_in())


DEFERRED = (
    Deferred(PYPLOT, KERAS_GALLERY, "plt", DeferredPyplot),
    Deferred(SCIPY_OPTIMIZE, KERAS_TUNER_BAYESIAN, "scipy", _scipy),
)


def import_module(name):
    """importlib.import_module(name), the DEFERRED modules left unimported if they were (call it with no other thread importing)."""
    hidden = [deferred for deferred in DEFERRED if deferred.hidden not in sys.modules]
    for deferred in hidden:
        sys.modules[deferred.hidden] = None  # `import <hidden>` now raises ImportError
    try:
        return importlib.import_module(name)
    finally:
        for deferred in hidden:
            if deferred.hidden in sys.modules and sys.modules[deferred.hidden] is None:
                del sys.modules[deferred.hidden]
        for deferred in DEFERRED:
            deferred.restore()
