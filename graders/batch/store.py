"""The output folder: one folder per student, committed whole, and the gradebook built from them.

`<out>/students/<id>/` holds `record.json` (status, scores, fingerprint), the
Gradescope `results.json`, the Q2 images and the grading log. A run prepares it under
`<out>/.staging/` and swaps it in with renames, so a killed run leaves either the old
complete folder, no folder, or the new complete one; `gradebook.csv` is always rebuilt
from the committed folders.
"""
import csv
import enum
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from graders import questions
from graders.batch.ids import printable
from graders.batch.permissions import file_mode, publish
from graders.judge.safe_files import UnsafeFile, read_regular_file


class Status(enum.StrEnum):
    """A gradebook row's status; its value is what the CSV, record.json and the report show."""

    GRADED = "graded"
    TIMEOUT = "timeout"  # stopped at the time limit
    CRASHED = "crashed"  # the grading process died, or the grading was disturbed from outside
    INVALID = "invalid"  # no submission to grade (a bad zip, no question file)

RECORD_FORMAT = 1
MAX_RECORD_BYTES = 2**20
GRADEBOOK_BOM = "\ufeff"
GRADEBOOK_COLUMNS = ("student_id", *questions.names(), "total", "status", "reason", "seconds", "sandbox")


@dataclass
class Record:
    """What grading one submission gave: its gradebook row and what the next run needs to skip it."""

    student: str
    status: Status
    reason: str
    source: str
    fingerprint: str = ""  # submission content + graders + options; empty: always regrade
    scores: dict = field(default_factory=dict)  # question -> points, for the questions graded
    max_scores: dict = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    started_at: float = 0.0  # Unix time the grading started; 0: not known (a record written before it was kept)
    timeout: float = 0.0
    sandbox: str = ""  # the workers' sandbox level (namespaces, landlock, none); "" unknown
    restarts: int = 0  # times the worker was restarted (a call's timeout, a crash) during the grading
    format: int = RECORD_FORMAT

    def __post_init__(self):
        try:
            self.status = Status(self.status)  # record.json holds its value
        except ValueError:
            raise ValueError(f"status must be one of {[status.value for status in Status]}, got status={self.status!r}") from None
        # File names in reasons and paths need not be UTF-8; every writer wants text that is.
        self.student, self.reason, self.source = printable(self.student), printable(self.reason), printable(self.source)

    @property
    def total(self):
        return sum(self.scores.values())

    def gradebook_row(self):
        row = {
            "student_id": self.student, "status": self.status, "reason": self.reason, "seconds": f"{self.seconds:.1f}",
            "sandbox": self.sandbox,
        }
        for question in questions.names():
            row[question] = _points(self.scores[question]) if question in self.scores else ""
        # A stopped grading keeps the points of its finished checks: they are a total too.
        row["total"] = _points(self.total) if self.status is Status.GRADED or self.scores else ""
        return row


def _points(value):
    """A score cell: blank (never "None" or "nan") for a value that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{round(value, 4):g}"


class Layout:
    """Where everything lives under the output folder."""

    def __init__(self, out):
        self.out = Path(os.path.abspath(out))  # judges run in the project's folder, not here
        self.students = self.out / "students"
        self.staging = self.out / ".staging"
        self.gradebook = self.out / "gradebook.csv"
        self.report = self.out / "report.html"

    def student_dir(self, student):
        return self.students / student

    def new_staging(self, student):
        """An empty private folder for one attempt at grading `student`."""
        self.staging.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{student[:40]}-", dir=self.staging))

    def new_oracle_cache(self):
        """A private folder (0700) for the oracle values this run's judges share."""
        self.staging.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="oracle-cache-", dir=self.staging))

    def clear_staging(self):
        """Drop what an interrupted run left half-done."""
        shutil.rmtree(self.staging, ignore_errors=True)


def write_text_atomically(path, text):
    """Write UTF-8 to a temporary file beside `path` with the umask's mode, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.fchmod(handle, file_mode())
        # backslashreplace: a lone surrogate in a student's feedback must not lose the whole page
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_json_atomically(path, data):
    write_text_atomically(path, json.dumps(data, indent=2))


def commit(layout, record, staging):
    """Write the record into `staging` and make it the student's folder in one swap."""
    write_json_atomically(staging / "record.json", asdict(record))
    publish(staging)  # mkdtemp made it 0700, and the judge's files may be 0600
    final = layout.student_dir(record.student)
    final.parent.mkdir(parents=True, exist_ok=True)
    previous = None
    if final.exists():
        previous = layout.staging / f"replaced-{uuid.uuid4().hex}"
        os.replace(final, previous)
    os.replace(staging, final)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def read_record(folder):
    """The committed record in `folder`, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads(read_regular_file(Path(folder) / "record.json", MAX_RECORD_BYTES))
        if data.get("format") != RECORD_FORMAT:
            return None
        return Record(**data)
    except (OSError, ValueError, TypeError, AttributeError, UnsafeFile):
        return None


def load_records(layout):
    """Every committed record, by student id."""
    if not layout.students.is_dir():
        return {}
    records = {}
    for folder in sorted(layout.students.iterdir()):
        record = read_record(folder) if folder.is_dir() and not folder.is_symlink() else None
        if record is not None and record.student == folder.name:
            records[record.student] = record
    return records


def student_order(student):
    """Sort key of student ids: case-insensitive, the id itself breaking ties (`Ann` before `ann`)."""
    return student.casefold(), student


def gradebook_csv(records):
    """The gradebook's text: comma-separated, rows by student_order, a blank cell for what was not graded."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=GRADEBOOK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for student in sorted(records, key=student_order):
        writer.writerow(records[student].gradebook_row())
    return stream.getvalue()


def write_gradebook(layout):
    """Rebuild gradebook.csv from the committed records; return them.

    Written with a UTF-8 byte-order mark: spreadsheet programs then read accented names as
    UTF-8 rather than in the local code page (Python reads it with encoding="utf-8-sig").
    """
    records = load_records(layout)
    write_text_atomically(layout.gradebook, GRADEBOOK_BOM + gradebook_csv(records))
    return records


def rewrite_file(path, replacements, appended=b""):
    """Make the `replacements` (bytes -> bytes) in the regular file `path` and add `appended`, by rename.

    Streamed, so a log of any size is fine. A link or special file at `path` is left alone,
    never followed or read; a missing file becomes one holding `appended` alone.
    """
    path = Path(path)
    try:
        source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        if not appended:
            return
        source = None
    except OSError:  # a link
        return
    try:
        if source is not None and not stat.S_ISREG(os.fstat(source).st_mode):
            return
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            os.fchmod(handle, file_mode())
            with os.fdopen(handle, "wb") as target:
                if source is not None:
                    _replace_stream(source, target, replacements)
                target.write(appended)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    finally:
        if source is not None:
            os.close(source)


def _replace_stream(source, target, replacements, chunk=2**20):
    replacements = {old: new for old, new in replacements.items() if old}
    # Longest first: of two paths, one inside the other, the longer is replaced whole.
    pattern = re.compile(b"|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True)) or b"(?!)")
    overlap = max(map(len, replacements), default=1) - 1
    pending = b""
    while True:
        data = os.read(source, chunk)
        pending += data
        # A match starting before `safe` lies wholly in `pending`; one after may go on in the next chunk.
        safe = len(pending) if not data else max(len(pending) - overlap, 0)
        done = 0
        for match in pattern.finditer(pending):
            if match.start() >= safe:
                break
            target.write(pending[done:match.start()] + replacements[match.group()])
            done = match.end()
        if done < safe:
            target.write(pending[done:safe])
            done = safe
        pending = pending[done:]
        if not data:
            return
