"""hw9-grade takes notebooks wherever it takes a submission: a bare .ipynb, in a class folder, a folder or zip holding one."""
import json
import shutil
import zipfile

import pytest

from graders import layout, questions
from graders.batch import store
from graders.batch.html_student import notebook_section, student_page
from graders.batch.inputs import find_submissions, submission_root
from graders.batch.runner import prepare
from graders.batch.unzip import InvalidSubmission
from tests.batch_helpers import folder_submission, gradebook, run_grade

REFERENCE_NOTEBOOK = layout.CORPUS_DIR / "notebook-reference-colab" / "reference-colab.ipynb"
NOTEBOOK_TEXT = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _notebook(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NOTEBOOK_TEXT)
    return path


def test_notebooks_are_submissions_wherever_folders_and_zips_are(tmp_path):
    klass = tmp_path / "class"
    _notebook(klass / "alice.ipynb")
    _notebook(klass / "bob" / "hw9.ipynb")
    with zipfile.ZipFile(klass / "carol.zip", "w") as archive:
        archive.writestr("carol/Homework9.ipynb", NOTEBOOK_TEXT)
    _notebook(klass / "Dan.IPYNB")
    erin = _notebook(tmp_path / "erin.ipynb")
    frank = tmp_path / "frank"
    _notebook(frank / "hw9.ipynb")
    candidates, skipped = find_submissions([klass, erin, frank])
    assert [(c.student, c.source.name, c.is_notebook, c.is_zip) for c in candidates] == [
        ("Dan", "Dan.IPYNB", True, False), ("alice", "alice.ipynb", True, False), ("bob", "bob", False, False),
        ("carol", "carol.zip", False, True), ("erin", "erin.ipynb", True, False), ("frank", "frank", False, False),
    ]
    assert skipped == []


def test_a_folder_of_notebooks_or_with_folders_beside_its_notebook_is_a_class(tmp_path):
    two = tmp_path / "two"
    _notebook(two / "alice.ipynb")
    _notebook(two / "bob.ipynb")
    beside = tmp_path / "beside"
    _notebook(beside / "alice.ipynb")
    folder_submission(beside, "bob", "x = 1\n")
    candidates, _ = find_submissions([two, beside])
    assert [c.student for c in candidates] == ["alice", "bob", "alice-2", "bob-2"]


def test_a_student_folder_may_hold_other_files_beside_its_notebook(tmp_path):
    folder = tmp_path / "alice"
    _notebook(folder / "hw9.ipynb")
    (folder / "images").mkdir()
    (folder / "images" / "cat.jpg").write_bytes(b"\xff\xd8")
    (folder / ".ipynb_checkpoints").mkdir()
    _notebook(folder / ".ipynb_checkpoints" / "hw9-checkpoint.ipynb")
    assert submission_root(tmp_path / "alice") == folder


def test_two_notebooks_in_one_submission_are_refused_naming_them(tmp_path):
    folder = tmp_path / "alice"
    _notebook(folder / "draft.ipynb")
    _notebook(folder / "final.ipynb")
    with pytest.raises(InvalidSubmission, match=r"2 notebooks \(draft.ipynb, final.ipynb\): hand in one"):
        submission_root(folder)


def test_a_bare_notebook_is_graded_from_a_folder_of_its_own_at_the_cost_of_every_question(tmp_path):
    [candidate], _ = find_submissions([_notebook(tmp_path / "alice.ipynb")])
    job = prepare(candidate, store.Layout(tmp_path / "out"), fingerprint="f")
    assert not job.invalid
    assert [path.name for path in job.submission.iterdir()] == ["alice.ipynb"]
    assert job.submission.is_relative_to(job.scratch)
    assert job.cost() == sum(question.cost for question in questions.all_questions())


def test_the_student_page_shows_what_was_built_from_the_notebook():
    results = {"tests": [], "extra_data": {"hw9": {"notebook": {
        "name": "hw9.ipynb", "summary": ["code cell 3 `tuner.search(x, y)`:", "  dropped line 1: experiments are not run while grading"],
        "modules": {"q1": "def conv_input_rank(kind):\n    return 3\n"},
    }}}}
    section = notebook_section(results)
    assert "Graded from the notebook <b>hw9.ipynb</b>. It was not run" in section
    assert "experiments are not run while grading" in section
    assert "q1.py as built from the notebook" in section and "def conv_input_rank(kind):" in section
    broken = notebook_section({"tests": [], "extra_data": {"hw9": {"notebook": {"error": "not JSON: line 1"}}}})
    assert "The notebook could not be read: not JSON: line 1" in broken
    assert notebook_section({"tests": [], "extra_data": {"hw9": {"notebook": None}}}) == ""
    record = store.Record(student="ann", status="graded", reason="", source="ann.ipynb", scores={"q1": 1.0}, max_scores={"q1": 1.0})
    assert section in student_page(record, results, None, None)


@pytest.mark.slow  # a whole hw9-grade run
def test_hw9_grade_grades_a_class_of_notebooks(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copyfile(REFERENCE_NOTEBOOK, klass / "alice.ipynb")
    (klass / "bob").mkdir()
    shutil.copyfile(REFERENCE_NOTEBOOK, klass / "bob" / "Homework 9.ipynb")
    out = tmp_path / "grades"
    code, output = run_grade(klass, "--out", out, "--only", "q1,q4", "--jobs", "2", timeout=900)
    assert code == 0, output
    rows = gradebook(out)
    assert {student: (row["status"], row["q1"], row["q4"]) for student, row in rows.items()} == {
        "alice": ("graded", "25", "20"), "bob": ("graded", "25", "20"),
    }
    page = (out / "students" / "alice" / "index.html").read_text()
    assert "Graded from the notebook <b>alice.ipynb</b>" in page and "q4.py as built from the notebook" in page
    results = json.loads((out / "students" / "bob" / "results.json").read_text())
    assert results["extra_data"]["hw9"]["notebook"]["name"] == "Homework 9.ipynb"
