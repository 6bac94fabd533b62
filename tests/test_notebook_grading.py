"""Notebook submissions graded end to end: `pytest --submission X.ipynb`, or a folder holding one."""
import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from graders import layout

REFERENCE_NOTEBOOK = layout.CORPUS_DIR / "notebook-reference-colab" / "reference-colab.ipynb"
HOSTILE_NOTEBOOK = layout.CORPUS_DIR / "hostile-notebook-os-system" / "hostile-os-system.ipynb"


def grade(submission, tmp_path, *args):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", str(layout.PACKAGE_DIR / "questions"), "-p", "no:cacheprovider", "-q",
               "--submission", str(submission), "--grade-json", str(results), *args]
    run = subprocess.run(command, cwd=layout.PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert results.is_file(), run.stdout[-3000:] + run.stderr[-2000:]
    return json.loads(results.read_text()), run


@pytest.mark.slow  # two whole gradings (34 s): .ci/run runs it, the default suite stays under its budget
def test_the_reference_as_a_colab_notebook_grades_as_the_folder_does_check_by_check(tmp_path):
    from_notebook, _ = grade(REFERENCE_NOTEBOOK, tmp_path / "notebook")
    from_folder, _ = grade(layout.REFERENCE_SUBMISSION, tmp_path / "folder")
    scores = {test["name"]: (test["score"], test["max_score"]) for test in from_notebook["tests"]}
    assert scores == {test["name"]: (test["score"], test["max_score"]) for test in from_folder["tests"]}
    assert from_notebook["score"] == pytest.approx(100)
    notebook = from_notebook["extra_data"]["hw9"]["notebook"]
    assert notebook["name"] == "reference-colab.ipynb" and set(notebook["modules"]) == {"q1", "q2", "q3", "q4"}
    assert "Graded the modules built from the notebook (it was not run):" in from_notebook["output"]
    assert "top-level call `tuner.search(...)`: experiments are not run while grading" in from_notebook["output"]
    assert from_folder["extra_data"]["hw9"]["notebook"] is None


def test_a_folder_holding_one_notebook_without_two_questions_misses_only_those(tmp_path):
    cells = [new_code_cell((layout.REFERENCE_SUBMISSION / f"{module}.py").read_text()) for module in ("q1", "q4")]
    cells.append(new_code_cell("!pip install keras-tuner\nprint(conv_params('conv2d', 3, 1, 1))"))
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "hw9.ipynb").write_text(nbformat.writes(new_notebook(cells=cells)))
    results, _ = grade(folder, tmp_path, "--questions", "q1,q2,q4")
    by_question = {}
    for test in results["tests"]:
        by_question.setdefault(test["name"].split(".")[0], []).append(test)
    assert all(test["status"] == "passed" for test in by_question["q1"] + by_question["q4"])
    assert all("q2.py is missing from the submission: the notebook hw9.ipynb defines none of its names" in test["output"] for test in by_question["q2"])
    assert results["score"] == pytest.approx(45)


def test_a_hostile_notebook_runs_nothing(tmp_path):
    markers = ["/tmp/HOSTILE_WAS_HERE", layout.PROJECT_ROOT / "HOSTILE_WAS_HERE", tmp_path / "HOSTILE_WAS_HERE"]
    assert not any(os.path.lexists(marker) for marker in markers), "left over from an earlier run"
    results, _ = grade(HOSTILE_NOTEBOOK, tmp_path, "--questions", "q1,q4")
    assert results["score"] == pytest.approx(45)
    assert not any(os.path.lexists(marker) for marker in markers), "a statement of the notebook ran"


def test_an_unreadable_notebook_misses_every_question_with_its_reason(tmp_path):
    broken = tmp_path / "hw9.ipynb"
    broken.write_text('{"cells": [1, 2], "nbformat": 4}')
    results, run = grade(broken, tmp_path, "--questions", "q1")
    assert results["score"] == 0 and all("the notebook could not be read: hw9.ipynb" in test["output"] for test in results["tests"])
    assert results["extra_data"]["hw9"]["notebook"]["error"].startswith("hw9.ipynb")
