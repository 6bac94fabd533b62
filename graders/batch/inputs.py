"""Which submissions the command line names, and under which student ids.

An argument is a submission when it is a `.zip`, a notebook (`.ipynb`), a folder that
directly holds one of q1.py..q4.py, or a folder holding one notebook and nothing else to
grade (no folder, no zip); any other folder is a class folder whose entries (folders,
`.zip`s and `.ipynb`s) are one submission each, named by the entry (`alice/`,
`alice.zip`, `alice.ipynb` -> `alice`; see graders/batch/ids.py for names that are not
plain text). A submission's folder may hold a notebook instead of question files (graders/judge/sources.py). Inside a class folder and a
submission nothing is followed through a link and only regular files are read: links,
FIFOs, devices and sockets are listed as skipped, never opened.
"""
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from graders import questions
from graders.batch.ids import UNNAMED, student_id
from graders.batch.unzip import InvalidSubmission, is_junk, unwrap
from graders.judge.safe_files import iter_regular_files
from graders.judge.sources import notebook_in

QUESTION_FILES = tuple(f"{question.module}.py" for question in questions.all_questions())
SUBMISSION_FILES = {".zip": "a .zip", ".ipynb": "a notebook"}  # files that are a submission of their own


@dataclass(frozen=True)
class Candidate:
    """One student's submission as found on disk, before it is unpacked or graded."""

    student: str
    source: Path  # a folder or a .zip
    note: str = ""  # e.g. a duplicate id that had to be renamed

    @property
    def is_zip(self):
        return self.source.suffix.lower() == ".zip" and not self.source.is_dir()

    @property
    def is_notebook(self):
        return self.source.suffix.lower() == ".ipynb" and not self.source.is_dir()


@dataclass(frozen=True)
class Skipped:
    """An entry of a class folder that is not graded, and why."""

    path: Path
    reason: str


def _mode(path):
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def _kind(mode):
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def questions_present(folder):
    """The questions whose file `folder` directly holds as a regular file (not a link, FIFO or device)."""
    return tuple(question for question in questions.all_questions() if stat.S_ISREG(_mode(Path(folder) / f"{question.module}.py")))


def holds_questions(folder):
    """Whether `folder` directly holds a question file."""
    return bool(questions_present(folder))


def _submission_file_suffix(name):
    """".zip" or ".ipynb" when a file named `name` is a submission of its own, else ""."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix in SUBMISSION_FILES and len(name) > len(suffix) else ""


def _lone_notebook(folder):
    """Whether `folder` holds one notebook and no folder or zip: a student's, not a class folder."""
    if notebook_in(folder) is None:
        return False
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries if not entry.name.startswith(".") and not is_junk([entry.name])]
    return not any(stat.S_ISDIR(_mode(Path(folder) / name)) or name.lower().endswith(".zip") for name in names)


def is_one_submission(folder):
    """Whether the folder named on the command line is one student's submission, not a class folder."""
    return holds_questions(folder) or _lone_notebook(folder)


def _entries_of_class_folder(folder):
    """(student id, path) of every submission in a class folder, and the entries skipped."""
    found, skipped = [], []
    with os.scandir(folder) as entries:
        entries = sorted(entries, key=lambda entry: entry.name)
    for entry in entries:
        name, path = entry.name, Path(folder) / entry.name
        if name.startswith(".") or is_junk([name]):
            continue
        mode = _mode(path)
        suffix = _submission_file_suffix(name)
        if stat.S_ISDIR(mode):
            found.append((student_id(name), path))
        elif suffix and stat.S_ISREG(mode):
            found.append((student_id(name[:-len(suffix)]), path))
        elif stat.S_ISLNK(mode):
            skipped.append(Skipped(path, "a symbolic link, not followed"))
        elif suffix or not stat.S_ISREG(mode):
            skipped.append(Skipped(path, f"{_kind(mode)}, not read"))
        else:
            skipped.append(Skipped(path, "not a folder, a .zip or a notebook (.ipynb)"))
    return found, skipped


def find_submissions(paths):
    """Candidates for every submission the arguments name, and the entries skipped.

    Raises FileNotFoundError for an argument that does not exist. The arguments
    themselves are the instructor's and may be links; what is inside them is not
    followed. Ids stay unique: a second `alice` becomes `alice-2`, with a note saying so.
    """
    named, skipped = [], []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir() and not is_one_submission(path.resolve()):
            entries, ignored = _entries_of_class_folder(path)
            named.extend(entries)
            skipped.extend(ignored)
        else:
            name = Path(os.path.abspath(path)).name  # `.` and `..` name the folder they stand for
            suffix = "" if path.is_dir() else _submission_file_suffix(name)
            named.append((student_id(name[:-len(suffix)] if suffix else name), path.resolve() if path.is_symlink() else path))
    return _unique(named), skipped


def _unique(named):
    seen, candidates = {}, []
    for student, path in named:
        student = student or UNNAMED
        if student in seen:
            first = seen[student]
            suffix = 2
            while f"{student}-{suffix}" in seen:
                suffix += 1
            renamed = f"{student}-{suffix}"
            seen[renamed] = path
            candidates.append(Candidate(renamed, path, note=f"id {student!r} is also used by {first}"))
        else:
            seen[student] = path
            candidates.append(Candidate(student, path))
    return candidates


def submission_root(folder):
    """The folder holding the q*.py files or the one notebook, after unwrapping; InvalidSubmission if none."""
    root = unwrap(folder)
    if holds_questions(root) or notebook_in(root) is not None:
        return root
    unread = []
    files = sorted(iter_regular_files(folder, unread))
    notebooks = [str(path) for path in files if path.suffix.lower() == ".ipynb"]
    python_files = [str(path) for path in files if path.suffix == ".py"][:5]
    found = f"; found {', '.join(python_files)}" if python_files else "; it holds no .py file"
    if notebooks:
        found += f" and {len(notebooks)} notebooks ({', '.join(notebooks[:5])}): hand in one" if len(notebooks) > 1 \
            else f" and the notebook {notebooks[0]}, not at the top of the submission"
    links = sorted(f"{name} is {kind}" for name, kind in unread if Path(name).name in QUESTION_FILES or name.endswith(".ipynb"))
    found += f" ({'; '.join(links)}: not read)" if links else ""
    raise InvalidSubmission(f"none of {', '.join(QUESTION_FILES)} and no single notebook (.ipynb) at the top of the submission{found}")


def submission_files(folder):
    """The regular files a grading run copies, relative to `folder`: no links, no __pycache__
    (as the worker's copy)."""
    for relative in sorted(iter_regular_files(folder)):
        if "__pycache__" not in relative.parts:
            yield relative


def submission_size(folder):
    """Bytes in the files a grading run copies (links and special files are not counted)."""
    return sum(os.lstat(Path(folder) / relative).st_size for relative in submission_files(folder))
