"""Notebook submissions: the four question modules built from a student's Jupyter notebook, never run.

The contract (shared/ASSIGNMENT.md, "Notebook submissions"): from the code cells, in
order, keep imports, `def`/`class` statements and the module-level assignments a kept
definition uses or the contract names; drop everything else (experiments, plots, shell
and magic lines) and say why, cell by cell; place each kept name in the module of the
question that exports it, helpers and imports in every module that uses them.

    build = build_from_file("hw9.ipynb")    # or build_from_bytes(data, name)
    build.write(folder)                     # q1.py ... for the questions found
    print("\\n".join(build.summary()))      # the student's feedback

Modules: `reading` (bounded reading and validation), `cells` (shell/magic lines, parsing,
classification), `names` (what a statement reads, from symtable), `build` (which
statements each module needs, rendering), `report` (the dataclasses returned).
"""
from graders.notebook.build import build_from_bytes, build_from_file, build_modules
from graders.notebook.reading import MAX_CELLS, MAX_NOTEBOOK_BYTES, NotebookError, read_notebook, read_notebook_file
from graders.notebook.report import CellReport, NotebookBuild, StatementReport

__all__ = [
    "CellReport", "MAX_CELLS", "MAX_NOTEBOOK_BYTES", "NotebookBuild", "NotebookError", "StatementReport",
    "build_from_bytes", "build_from_file", "build_modules", "read_notebook", "read_notebook_file",
]
