"""The corpus's entries and what grading each must give (their expected.yaml).

Each entry of `fixtures/submissions/<name>/` holds some of q1.py..q4.py and an
`expected.yaml` (description, kind valid|mutant|hostile, scores per question, failing:
key -> keyword). A `failing` key is a check (`q2.filter_cv2`, all its cases), one case
(`q2.filter_cv2[blur-uint8]`) or a whole question (`q3`, every check of it); its
keyword (or list of keywords) must appear, case-insensitively, in the feedback of the
failing cases it matches.

An entry may hold a notebook (`<name>.ipynb`) instead of question files; its
`notebook:` mapping says what building it must give: the modules `built`, the exported
names `missing` from them (`q1.global_pool`) and text `absent` from every built module
(the experiments that must be dropped).

Git stores no FIFO or device, so an entry may also declare `special_files: {name: kind}`,
made in the copy of the entry that is graded: kind `fifo` (a named pipe: a reader that
opens it waits for a writer forever), `symlink-to-dev-zero` (a link to /dev/zero: a
reader never reaches its end), `symlink-outside` (a link to a folder outside the
submission: the repository's `solutions/`, the reference answers) or
`notebook-of-a-million-cells` (a 3 MB notebook of a million empty cells, written rather
than stored).
"""
import enum
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from graders import layout, questions
from graders.batch.inputs import questions_present
from graders.judge import yaml_data
from graders.judge.sources import notebook_in
from graders.layout import CORPUS_DIR

QUESTIONS = questions.names()
OUTSIDE_FOLDER = layout.REFERENCE_SUBMISSION  # what a `symlink-outside` points at
_CASE_KEY = re.compile(r"^q[1-4](\.[A-Za-z_]\w*(\[.+\])?)?$")
_KEYS = {"description", "kind", "scores", "failing", "special_files", "styles", "notebook"}
_NOTEBOOK_KEYS = {"built", "missing", "absent"}
MILLION_CELLS = 1_000_000


class CorpusError(ValueError):
    """An entry whose expected.yaml is malformed."""


class EntryKind(enum.StrEnum):
    VALID = "valid"  # written differently from the reference, full marks
    MUTANT = "mutant"  # one realistic mistake, which the feedback must name
    HOSTILE = "hostile"  # an attack the sandbox must contain


class SpecialFile(enum.StrEnum):
    FIFO = "fifo"
    SYMLINK_TO_DEV_ZERO = "symlink-to-dev-zero"
    SYMLINK_OUTSIDE = "symlink-outside"
    NOTEBOOK_OF_A_MILLION_CELLS = "notebook-of-a-million-cells"

    def make(self, path):
        """Create this special file at `path`."""
        if self is SpecialFile.FIFO:
            os.mkfifo(path)
        elif self is SpecialFile.NOTEBOOK_OF_A_MILLION_CELLS:
            cells = b",".join([b"{}"] * MILLION_CELLS)
            Path(path).write_bytes(b'{"cells": [' + cells + b'], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        else:
            os.symlink("/dev/zero" if self is SpecialFile.SYMLINK_TO_DEV_ZERO else OUTSIDE_FOLDER, path)


def _choices(kind):
    return tuple(member.value for member in kind)


@dataclass(frozen=True)
class Expectation:
    """What grading an entry must give."""

    description: str
    kind: EntryKind
    scores: dict  # question -> points
    failing: dict  # key -> tuple of keywords
    special_files: dict = field(default_factory=dict)  # file name -> SpecialFile
    styles: tuple = ()  # a valid entry's ways of writing correct code, for the false-negative audit
    notebook: "NotebookExpectation | None" = None  # what building a notebook entry's modules gives


@dataclass(frozen=True)
class NotebookExpectation:
    """What building a notebook entry's question modules must give."""

    built: tuple  # the modules built ("q1", ...)
    missing: tuple  # exported names none of the cells defines usably ("q1.global_pool")
    absent: tuple  # text that no built module may contain (a dropped experiment)


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    path: Path
    expected: Expectation


def _keywords(path, key, value):
    keywords = [value] if isinstance(value, str) else value
    if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise CorpusError(f"{path}: failing[{key!r}] must be a keyword or a list of keywords, got {value!r}")
    return tuple(keywords)


def _scores(path, scores):
    if not isinstance(scores, dict) or set(scores) != set(QUESTIONS):
        raise CorpusError(f"{path}: scores must give exactly {list(QUESTIONS)}, got scores={scores!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in scores.values()):
        raise CorpusError(f"{path}: scores must be non-negative numbers, got scores={scores!r}")
    return {q: float(scores[q]) for q in QUESTIONS}


def _failing(path, failing, kind):
    if not isinstance(failing, dict):
        raise CorpusError(f"{path}: failing must map check -> keyword, got failing={failing!r}")
    for key in failing:
        if not isinstance(key, str) or not _CASE_KEY.match(key):
            raise CorpusError(f"{path}: failing key {key!r} is not a question, check or case name like 'q2.filter_cv2[blur]'")
    if kind is EntryKind.VALID and failing:
        raise CorpusError(f"{path}: a valid entry cannot list failing checks, got failing={failing!r}")
    return {key: _keywords(path, key, value) for key, value in failing.items()}


def _special_files(path, special):
    if not isinstance(special, dict):
        raise CorpusError(f"{path}: special_files must map file name -> kind, got special_files={special!r}")
    for name, kind in special.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise CorpusError(f"{path}: special file name {name!r} is not a plain file name")
        if kind not in _choices(SpecialFile):
            raise CorpusError(f"{path}: special_files[{name!r}] must be one of {_choices(SpecialFile)}, got {kind!r}")
    return {name: SpecialFile(kind) for name, kind in special.items()}


def _styles(path, styles, kind):
    if kind is not EntryKind.VALID:
        if styles:
            raise CorpusError(f"{path}: only a valid entry lists styles, got styles={styles!r}")
        return ()
    if not isinstance(styles, list) or not styles or not all(isinstance(style, str) and style.strip() for style in styles):
        raise CorpusError(f"{path}: a valid entry lists its styles, a non-empty list of words, got styles={styles!r}")
    return tuple(style.strip() for style in styles)


def _notebook(path, notebook):
    if notebook is None:
        return None
    if not isinstance(notebook, dict) or set(notebook) != _NOTEBOOK_KEYS:
        raise CorpusError(f"{path}: notebook must map exactly {sorted(_NOTEBOOK_KEYS)}, got notebook={notebook!r}")
    for key, value in notebook.items():
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise CorpusError(f"{path}: notebook[{key!r}] must be a list of strings, got {value!r}")
    unknown = [module for module in notebook["built"] if module not in QUESTIONS]
    unknown += [name for name in notebook["missing"] if not _CASE_KEY.match(name) or "." not in name]
    if unknown:
        raise CorpusError(f"{path}: notebook names {unknown}: not a question or a question's export like 'q1.global_pool'")
    return NotebookExpectation(*(tuple(notebook[key]) for key in ("built", "missing", "absent")))


def parse_expectation(data, path="expected.yaml"):
    """Validate an expected.yaml mapping and return its Expectation."""
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise CorpusError(f"{path}: unknown keys {sorted(unknown)}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise CorpusError(f"{path}: description must be a non-empty string, got {description!r}")
    kind = data.get("kind")
    if kind not in _choices(EntryKind):
        raise CorpusError(f"{path}: kind must be one of {_choices(EntryKind)}, got kind={kind!r}")
    kind = EntryKind(kind)
    return Expectation(
        description=description.strip(),
        kind=kind,
        scores=_scores(path, data.get("scores")),
        failing=_failing(path, data.get("failing") or {}, kind),
        special_files=_special_files(path, data.get("special_files") or {}),
        styles=_styles(path, data.get("styles"), kind),
        notebook=_notebook(path, data.get("notebook")),
    )


def load_entry(path):
    """The corpus entry in folder `path`."""
    path = Path(path)
    expected_file = path / "expected.yaml"
    if not expected_file.is_file():
        raise CorpusError(f"{path}: no expected.yaml")
    try:
        data = yaml_data.read(expected_file)
    except yaml.YAMLError as error:
        raise CorpusError(f"{expected_file}: not valid YAML: {error}") from None
    expected = parse_expectation(data, expected_file)
    clashes = [name for name in expected.special_files if os.path.lexists(path / name)]
    if clashes:
        raise CorpusError(f"{expected_file}: special_files {clashes} would replace files of the entry")
    return CorpusEntry(name=path.name, path=path, expected=expected)


def entry_folders(corpus_dir=CORPUS_DIR):
    """The corpus's entry folders, sorted by name."""
    return [path for path in sorted(Path(corpus_dir).iterdir()) if path.is_dir() and not path.name.startswith((".", "_"))]


def discover(corpus_dir=CORPUS_DIR):
    """(entries, errors): every loadable entry, and a CorpusError per malformed folder."""
    entries, errors = [], []
    for path in entry_folders(corpus_dir):
        try:
            entries.append(load_entry(path))
        except CorpusError as error:
            errors.append(error)
    return entries, errors


def copy_entry(entry, destination):
    """Copy the entry's files to the new folder `destination` and make its special files there."""
    shutil.copytree(entry.path, destination, symlinks=True)
    for name, kind in entry.expected.special_files.items():
        kind.make(Path(destination) / name)
    return Path(destination)


def absent_questions(entry, folder=None):
    """Questions whose module the entry (graded from `folder`, default its own) has no regular file for.

    The same test as hw9-grade's: a link, FIFO or device named q3.py is no q3.py. A notebook
    entry has none absent: what its notebook lacks must be listed as failing.
    """
    folder = entry.path if folder is None else folder
    if notebook_in(folder) is not None or any(name.lower().endswith(".ipynb") for name in entry.expected.special_files):
        return ()
    present = {question.name for question in questions_present(folder)}
    return tuple(question for question in QUESTIONS if question not in present)
