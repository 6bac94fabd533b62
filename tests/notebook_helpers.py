"""Notebooks built here, as bytes, for the notebook tests."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from graders.notebook import build_from_bytes

COLAB_METADATA = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}, "accelerator": "GPU"}
Q1_PIECES = ("import numpy as np", "def conv_input_rank(kind):\n    return {'conv1d': 2, 'conv2d': 3, 'conv3d': 4}[kind]")


def notebook(*cells, metadata=None):
    """Notebook bytes: a str is a code cell, ("md", text) a markdown cell, (source, outputs) a code cell with outputs."""
    built = []
    for cell in cells:
        if isinstance(cell, tuple) and cell[0] == "md":
            built.append(new_markdown_cell(cell[1]))
        elif isinstance(cell, tuple):
            built.append(new_code_cell(cell[0], outputs=cell[1], execution_count=1))
        else:
            built.append(new_code_cell(cell))
    return nbformat.writes(new_notebook(cells=built, metadata=metadata or COLAB_METADATA)).encode()


def build(*cells):
    return build_from_bytes(notebook(*cells), "hw9.ipynb")
