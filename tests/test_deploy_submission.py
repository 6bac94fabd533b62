"""Finding the submission in what Gradescope, GitHub Classroom or a student hands over."""
import os
import zipfile

import pytest

from graders import layout
from graders.deploy.submission import SubmissionError, locate

REFERENCE = layout.REFERENCE_SUBMISSION
NOTEBOOK = layout.CORPUS_DIR / "notebook-reference-colab" / "reference-colab.ipynb"


def reference_into(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(REFERENCE.glob("q*.py")):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def zip_of(folder, path, prefix=""):
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(folder).as_posix())
    return path


def names(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_a_folder_is_graded_from_a_clean_copy_without_hidden_folders(tmp_path):
    upload = reference_into(tmp_path / "repo")
    (upload / ".git").mkdir()
    (upload / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (upload / ".github" / "hw9").mkdir(parents=True)
    (upload / ".github" / "hw9" / "grading.json").write_text("{}")
    (upload / "__pycache__").mkdir()
    (upload / "__pycache__" / "q1.cpython-311.pyc").write_bytes(b"")
    (upload / "helpers.py").write_text("X = 1\n")
    os.symlink("/etc/passwd", upload / "notes.txt")
    located = locate(upload, tmp_path / "scratch")
    assert located.path != upload and located.path.is_relative_to(tmp_path / "scratch")
    assert names(located.path) == ["helpers.py", "q1.py", "q2.py", "q3.py", "q4.py"]
    assert any("notes.txt was not read: it is a symbolic link" in note for note in located.notes)


def test_question_files_one_folder_down_are_found(tmp_path):
    upload = tmp_path / "upload"
    reference_into(upload / "hw9")
    (upload / "README.md").write_text("mine\n")
    located = locate(upload, tmp_path / "scratch")
    assert located.path.name == "hw9" and "q1.py" in names(located.path)
    assert any("hw9/" in note for note in located.notes)


def test_question_files_in_two_folders_are_refused(tmp_path):
    upload = tmp_path / "upload"
    reference_into(upload / "a")
    reference_into(upload / "b")
    with pytest.raises(SubmissionError, match="several folders"):
        locate(upload, tmp_path / "scratch")


@pytest.mark.parametrize("prefix", ["", "alice/hw9/"])
def test_a_zip_given_or_uploaded_is_unpacked_safely(tmp_path, prefix):
    archive = zip_of(reference_into(tmp_path / "src"), tmp_path / "hw9.zip", prefix)
    located = locate(archive, tmp_path / "scratch1")
    assert "q4.py" in names(located.path)
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "hw9.zip").write_bytes(archive.read_bytes())
    located = locate(upload, tmp_path / "scratch2")
    assert "q4.py" in names(located.path) and any("hw9.zip" in note for note in located.notes)


def test_a_zip_escaping_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../../q1.py", "x = 1\n")
    with pytest.raises(SubmissionError, match="outside"):
        locate(archive, tmp_path / "scratch")


def test_a_notebook_alone_or_in_a_folder_is_graded_as_a_notebook(tmp_path):
    located = locate(NOTEBOOK, tmp_path / "scratch1")
    assert names(located.path) == ["reference-colab.ipynb"]
    upload = tmp_path / "upload" / "work"
    upload.mkdir(parents=True)
    (upload / "hw9.ipynb").write_bytes(NOTEBOOK.read_bytes())
    located = locate(tmp_path / "upload", tmp_path / "scratch2")
    assert located.path.name == "hw9.ipynb"


def test_nothing_gradable_still_grades_every_question_as_missing(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "answers.txt").write_text("42\n")
    located = locate(upload, tmp_path / "scratch")
    assert any("no q1.py" in note for note in located.notes)
    with pytest.raises(SubmissionError, match="no such file"):
        locate(tmp_path / "absent", tmp_path / "scratch3")
    (tmp_path / "a.tar").write_text("")
    with pytest.raises(SubmissionError, match="expected a folder, a .zip or a .ipynb"):
        locate(tmp_path / "a.tar", tmp_path / "scratch4")
