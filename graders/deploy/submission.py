"""Finding the submission in what a platform hands over: a folder, a .zip, a notebook.

Gradescope puts whatever the student uploaded into `/autograder/submission` (the files,
or a folder of them, or a .zip it did not unpack); GitHub Classroom grades the student's
repository, `.git` and all; a student runs hw9-check on their working folder. Each becomes
a clean copy holding only the submission's own files (no hidden folders such as `.git`,
no links, FIFOs or devices, at most the harness's size limit), and inside it the folder
that holds q1.py..q4.py or the one notebook.
"""
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from graders import questions
from graders.batch.unzip import InvalidSubmission, extract_zip, is_junk
from graders.judge.harness import MAX_SUBMISSION_BYTES
from graders.judge.safe_files import UnsafeFile, iter_regular_files, read_regular_file

MAX_DEPTH = 3  # folders descended to find the question files (`upload/hw9/q1.py`)


class SubmissionError(Exception):
    """Nothing gradable could be read; the message is for the student."""


@dataclass(frozen=True)
class Located:
    """What to grade (a folder or an .ipynb) and what the student should know about how it was found."""

    path: Path
    notes: tuple = ()


def _mode(path):
    try:
        return path.lstat().st_mode
    except OSError:
        return 0


def _question_files(folder):
    return [question.module for question in questions.all_questions() if stat.S_ISREG(_mode(folder / f"{question.module}.py"))]


def _notebooks(folder):
    return sorted(child for child in folder.iterdir() if child.suffix == ".ipynb" and stat.S_ISREG(_mode(child)))


def clean_copy(source, destination):
    """Copy the regular files under `source` into `destination`, leaving hidden folders, junk and links out.

    Return the notes on what was left out (links, special files); SubmissionError past the size limit.
    """
    skipped, notes, budget = [], [], MAX_SUBMISSION_BYTES
    destination.mkdir(parents=True, exist_ok=True)
    for relative in iter_regular_files(source, skipped):
        if any(part.startswith(".") for part in relative.parts) or is_junk(relative.parts):
            continue
        try:
            data = read_regular_file(source / relative, budget)
        except UnsafeFile as error:
            raise SubmissionError(f"the submission is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB ({error})") from None
        budget -= len(data)
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for path, kind in skipped:
        if not any(part.startswith(".") for part in Path(path).parts):
            notes.append(f"{path} was not read: it is {kind}")
    return notes


def _folders_with_questions(folder):
    """The shallowest folders under `folder` (at most MAX_DEPTH down) that hold a question file."""
    level = [folder]
    for _ in range(MAX_DEPTH + 1):
        found = [candidate for candidate in level if _question_files(candidate)]
        if found:
            return found
        level = [child for candidate in level for child in sorted(candidate.iterdir()) if stat.S_ISDIR(_mode(child)) and not is_junk([child.name])]
    return []


def _all_notebooks(folder):
    return sorted(path for path in folder.rglob("*.ipynb") if stat.S_ISREG(_mode(path)) and not is_junk(path.relative_to(folder).parts))


def _find_in(folder, scratch, notes, unpacked=False):
    """The folder or notebook to grade inside the clean copy `folder`."""
    if _question_files(folder):
        return Located(folder, tuple(notes))
    top_notebooks = _notebooks(folder)
    if len(top_notebooks) == 1:
        return Located(folder, tuple(notes))
    zips = sorted(child for child in folder.iterdir() if child.suffix.lower() == ".zip" and stat.S_ISREG(_mode(child)))
    if not top_notebooks and len(zips) == 1 and not unpacked:
        unzipped = scratch / "unzipped"
        try:
            root = extract_zip(zips[0], unzipped)
        except InvalidSubmission as error:
            raise SubmissionError(f"{zips[0].name}: {error}") from None
        notes.append(f"graded the contents of {zips[0].name}")
        return _find_in(root, scratch, notes, unpacked=True)
    found = _folders_with_questions(folder)
    if len(found) == 1:
        if found[0] != folder:
            notes.append(f"graded the question files in {found[0].relative_to(folder).as_posix()}/")
        return Located(found[0], tuple(notes))
    if len(found) > 1:
        names = ", ".join(f"{path.relative_to(folder).as_posix()}/" for path in found)
        raise SubmissionError(f"question files in several folders ({names}): submit one folder")
    notebooks = _all_notebooks(folder)
    if len(notebooks) == 1:
        notes.append(f"graded the notebook {notebooks[0].relative_to(folder).as_posix()}")
        return Located(notebooks[0], tuple(notes))
    if len(notebooks) > 1:
        names = ", ".join(path.relative_to(folder).as_posix() for path in notebooks)
        raise SubmissionError(f"several notebooks and no q1.py..q4.py ({names}): submit one notebook")
    expected = ", ".join(f"{name}.py" for name in questions.names())
    notes.append(f"no {expected} and no notebook found: every question is graded as missing")
    return Located(folder, tuple(notes))


def locate(path, scratch):
    """The submission at `path` (a folder, .zip or .ipynb) as a clean copy under `scratch`."""
    path, scratch = Path(path), Path(scratch)
    mode = _mode(path)
    copy = scratch / "submission"
    if stat.S_ISDIR(mode):
        notes = clean_copy(path, copy)
        return _find_in(copy, scratch, notes)
    if not stat.S_ISREG(mode):
        raise SubmissionError(f"{path}: no such file or folder" if not mode else f"{path}: not a regular file or folder")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            root = extract_zip(path, scratch / "unzipped")
        except InvalidSubmission as error:
            raise SubmissionError(f"{path.name}: {error}") from None
        notes = clean_copy(root, copy)
        return _find_in(copy, scratch, notes, unpacked=True)
    if suffix in (".ipynb", ".py"):
        copy.mkdir(parents=True, exist_ok=True)
        try:
            (copy / path.name).write_bytes(read_regular_file(path, MAX_SUBMISSION_BYTES))
        except UnsafeFile as error:
            raise SubmissionError(str(error)) from None
        return _find_in(copy, scratch, [])
    raise SubmissionError(f"{path.name}: expected a folder, a .zip or a .ipynb")


def remove(scratch):
    shutil.rmtree(scratch, ignore_errors=True)
