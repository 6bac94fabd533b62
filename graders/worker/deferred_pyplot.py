"""Keras without matplotlib's pyplot at import: about 0.5 s of CPU in every process that loads Keras.

Loading Keras imports matplotlib.pyplot (keras.src.visualization.plot_image_gallery), only
for `keras.visualization.plot_image_gallery`, and falls back to `plt = None` when it cannot.
The fork server, hw9-grade's host and every fresh worker load Keras; hardly a submission
plots. `import_module` loads a library with pyplot hidden, then gives that Keras module a
stand-in that imports pyplot at its first use: a submission that plots, through Keras or
by importing pyplot itself, gets the real one.
"""
import importlib
import sys

PYPLOT = "matplotlib.pyplot"
KERAS_GALLERY = "keras.src.visualization.plot_image_gallery"


class DeferredPyplot:
    """matplotlib.pyplot, imported at the first attribute asked of it."""

    def __getattr__(self, name):
        return getattr(importlib.import_module(PYPLOT), name)


def import_module(name):
    """importlib.import_module(name), pyplot left unimported if it was (call it with no other thread importing)."""
    hidden = PYPLOT not in sys.modules
    if hidden:
        sys.modules[PYPLOT] = None  # `import matplotlib.pyplot` now raises ImportError
    try:
        return importlib.import_module(name)
    finally:
        if hidden and PYPLOT in sys.modules and sys.modules[PYPLOT] is None:
            del sys.modules[PYPLOT]
        gallery = sys.modules.get(KERAS_GALLERY)
        if gallery is not None and getattr(gallery, "plt", False) is None:
            gallery.plt = DeferredPyplot()
