"""Which submissions the command line names, and under which student ids.

An argument is a submission when it is a `.zip` or a folder that directly holds one of
q1.py..q4.py; any other folder is a class folder whose entries (folders and `.zip`s)
are one submission each, named by the entry (`alice/`, `alice.zip` -> `alice`; see
graders/batch/ids.py for names that are not plain text). Inside a class folder and a
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

QUESTION_FILES = tuple(f"{question.module}.py" for question in questions.all_questions())


@dataclass(frozen=True)
class Candidate:
    """One student's submission as found on disk, before it is unpacked or graded."""

    student: str
    source: Path  # a folder or a .zip
    note: str = ""  # e.g. a duplicate id that had to be renamed

    @property
    def is_zip(self):
        return self.source.suffix.lower() == ".zip" and not self.source.is_dir()


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
        is_zip = name.lower().endswith(".zip")
        if stat.S_ISDIR(mode):
            found.append((student_id(name), path))
        elif is_zip and stat.S_ISREG(mode):
            found.append((student_id(name[:-4]), path))
        elif stat.S_ISLNK(mode):
            skipped.append(Skipped(path, "a symbolic link, not followed"))
        elif is_zip or not stat.S_ISREG(mode):
            skipped.append(Skipped(path, f"{_kind(mode)}, not read"))
        else:
            skipped.append(Skipped(path, "not a folder or a .zip"))
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
        if path.is_dir() and not holds_questions(path.resolve()):
            entries, ignored = _entries_of_class_folder(path)
            named.extend(entries)
            skipped.extend(ignored)
        else:
            name = Path(os.path.abspath(path)).name  # `.` and `..` name the folder they stand for
            is_zip = name.lower().endswith(".zip") and not path.is_dir()
            named.append((student_id(name[:-4] if is_zip else name), path.resolve() if path.is_symlink() else path))
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
    """The folder holding the q*.py files, after unwrapping; InvalidSubmission if there are none."""
    root = unwrap(folder)
    if holds_questions(root):
        return root
    unread = []
    python_files = sorted(str(path) for path in iter_regular_files(folder, unread) if path.suffix == ".py")[:5]
    found = f"; found {', '.join(python_files)}" if python_files else "; it holds no .py file"
    links = sorted(f"{name} is {kind}" for name, kind in unread if Path(name).name in QUESTION_FILES)
    found += f" ({'; '.join(links)}: not read)" if links else ""
    raise InvalidSubmission(f"none of {', '.join(QUESTION_FILES)} at the top of the submission{found}")


def submission_files(folder):
    """The regular files a grading run copies, relative to `folder`: no links, no __pycache__
    (as the worker's copy)."""
    for relative in sorted(iter_regular_files(folder)):
        if "__pycache__" not in relative.parts:
            yield relative


def submission_size(folder):
    """Bytes in the files a grading run copies (links and special files are not counted)."""
    return sum(os.lstat(Path(folder) / relative).st_size for relative in submission_files(folder))
