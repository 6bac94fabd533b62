"""What the worker imports: the submission's folder, or the modules built from its notebook.

A submission is a folder holding q1.py..q4.py, or a Jupyter notebook: a `.ipynb` file,
or a folder holding one notebook and no question file. A notebook is never run: the
judge builds the question modules from its text (`graders.notebook`) into a folder of
its own, and the worker imports those like any folder's.
"""
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graders import questions
from graders.notebook import NotebookBuild, NotebookError, build_from_file

MAX_MODULE_CHARS = 200_000  # of a built module's source, in results.json


@dataclass
class GradedSource:
    """The folder the worker imports from, and the notebook build it came from (None for a folder)."""

    folder: Path
    notebook: NotebookBuild | None = None
    notebook_error: str = ""  # why the notebook could not be read: every question is then missing
    built: bool = False  # the folder is ours, to remove when grading ends

    def close(self):
        if self.built:
            shutil.rmtree(self.folder, ignore_errors=True)

    def missing_reason(self, module):
        """Why `module`.py is missing, in a notebook's terms; "" for a folder submission."""
        if self.notebook_error:
            return f"the notebook could not be read: {self.notebook_error}"
        if self.notebook is None:
            return ""
        names = self.notebook.missing.get(module, {})
        why = "; ".join(f"`{name}`: {reason}" for name, reason in names.items())
        return f"the notebook {self.notebook.name} defines none of its names" + (f" ({why})" if why else "")

    def as_data(self):
        """The build as results.json's extra_data.hw9.notebook (None for a folder)."""
        if self.notebook is None and not self.notebook_error:
            return None
        if self.notebook is None:
            return {"error": self.notebook_error}
        return {
            "name": self.notebook.name,
            "summary": self.notebook.summary(),
            "modules": {module: source[:MAX_MODULE_CHARS] for module, source in self.notebook.modules.items()},
        }


def notebook_in(path):
    """The notebook that `path` submits, or None when it is a folder of question files."""
    path = Path(path)
    if path.suffix.lower() == ".ipynb" and _is_regular(path):
        return path
    if not path.is_dir() or path.is_symlink():
        return None
    if any(_is_regular(path / f"{question.module}.py") for question in questions.all_questions()):
        return None
    notebooks = [child for child in sorted(path.iterdir())
                 if child.suffix.lower() == ".ipynb" and not child.name.startswith(".") and _is_regular(child)]
    return notebooks[0] if len(notebooks) == 1 else None


def prepare(path):
    """The GradedSource of the submission at `path`; a notebook is built into a new temporary folder."""
    notebook = notebook_in(path)
    if notebook is None:
        return GradedSource(Path(path))
    folder = Path(tempfile.mkdtemp(prefix="hw9-notebook-"))
    try:
        build = build_from_file(notebook)
    except NotebookError as error:
        return GradedSource(folder, notebook_error=str(error), built=True)
    build.write(folder)
    return GradedSource(folder, notebook=build, built=True)


def _is_regular(path):
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False
