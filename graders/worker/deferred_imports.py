"""Libraries loaded without the heavy modules they import at load time for one rarely used feature.

- Keras imports matplotlib (0.1 s of CPU, and pyplot 0.2-0.9 s more) for
  `keras.visualization`'s galleries alone, and binds `plt = None` and `patches = None`
  when it cannot.
- keras-tuner imports `scipy.optimize` (about 0.2 s) for `BayesianOptimization` alone, and
  binds `scipy = None` when it cannot.

The fork server, hw9-grade's host, every judge and every fresh worker load these libraries;
hardly a submission plots or tunes by Bayesian optimization. `import_module` loads a library
with those modules hidden, then gives each name bound to None a stand-in that imports the
real module at its first use: a submission that uses the feature, or imports the module
itself, gets the real one.
"""
import importlib
import sys
from dataclasses import dataclass

HIDDEN = ("matplotlib", "scipy.optimize")  # hiding a package hides its submodules (pyplot, patches)


class DeferredModule:
    """A module imported at the first attribute asked of it."""

    def __init__(self, name):
        self.__dict__["_name"] = name

    def __getattr__(self, attribute):
        return getattr(importlib.import_module(self._name), attribute)


def _scipy():
    """SciPy itself: it imports a submodule such as `scipy.optimize` at the first access."""
    return importlib.import_module("scipy")


@dataclass(frozen=True)
class StandIn:
    """`name` in the module `importer`, bound to None when a hidden module could not be imported."""

    importer: str
    name: str
    make: object  # () -> what `name` is bound to instead

    def bind(self):
        module = sys.modules.get(self.importer)
        if module is not None and getattr(module, self.name, False) is None:
            setattr(module, self.name, self.make())


STAND_INS = (
    StandIn("keras.src.visualization.plot_image_gallery", "plt", lambda: DeferredModule("matplotlib.pyplot")),
    StandIn("keras.src.visualization.plot_bounding_box_gallery", "patches", lambda: DeferredModule("matplotlib.patches")),
    StandIn("keras_tuner.src.tuners.bayesian", "scipy", _scipy),
)


def import_module(name):
    """importlib.import_module(name), the HIDDEN modules left unimported if they were (call it with no other thread importing)."""
    hidden = [module for module in HIDDEN if module not in sys.modules]
    for module in hidden:
        sys.modules[module] = None  # `import <module>` (and of its submodules) now raises ImportError
    try:
        return importlib.import_module(name)
    finally:
        for module in hidden:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]
        for stand_in in STAND_INS:
            stand_in.bind()
