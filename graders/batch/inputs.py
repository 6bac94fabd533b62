"""Which submissions the command line names, and under which student ids.

An argument is a submission when it is a `.zip` or a folder that directly holds one of
q1.py..q4.py; any other folder is a class folder whose entries (folders and `.zip`s)
are one submission each, named by the entry (`alice/`, `alice.zip` -> `alice`).
"""
from dataclasses import dataclass
from pathlib import Path

from graders.batch.unzip import InvalidSubmission, is_junk, unwrap
from graders.harness import QUESTION_MODULES

QUESTION_FILES = tuple(f"{module}.py" for module in QUESTION_MODULES)


@dataclass(frozen=True)
class Candidate:
    """One student's submission as found on disk, before it is unpacked or graded."""

    student: str
    source: Path  # a folder or a .zip
    note: str = ""  # e.g. a duplicate id that had to be renamed

    @property
    def is_zip(self):
        return self.source.suffix.lower() == ".zip" and not self.source.is_dir()


def holds_questions(folder):
    return any((Path(folder) / name).is_file() for name in QUESTION_FILES)


def _entries_of_class_folder(folder):
    """(student id, path) of every submission in a class folder; other files are skipped."""
    found, skipped = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or is_junk([entry.name]):
            continue
        if entry.is_dir():
            found.append((entry.name, entry))
        elif entry.suffix.lower() == ".zip":
            found.append((entry.stem, entry))
        else:
            skipped.append(entry.name)
    return found, skipped


def find_submissions(paths):
    """Candidates for every submission the arguments name, and the files skipped.

    Raises FileNotFoundError for an argument that does not exist. Ids stay unique: a
    second `alice` becomes `alice-2`, with a note saying so.
    """
    named, skipped = [], []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir() and not holds_questions(path):
            entries, ignored = _entries_of_class_folder(path)
            named.extend(entries)
            skipped.extend(str(path / name) for name in ignored)
        else:
            named.append((path.stem if path.suffix.lower() == ".zip" else path.name, path))
    return _unique(named), skipped


def _unique(named):
    seen, candidates = {}, []
    for student, path in named:
        student = student.strip() or "unnamed"
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
    python_files = sorted(str(path.relative_to(folder)) for path in Path(folder).rglob("*.py"))[:5]
    found = f"; found {', '.join(python_files)}" if python_files else "; it holds no .py file"
    raise InvalidSubmission(f"none of {', '.join(QUESTION_FILES)} at the top of the submission{found}")


def submission_files(folder):
    """The files a grading run copies: no links, no __pycache__ (as the worker's copy)."""
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        yield path
