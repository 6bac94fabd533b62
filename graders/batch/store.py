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
import os
import shutil
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
    timeout: float = 0.0
    sandbox: str = ""  # the workers' sandbox level (namespaces, landlock, none); "" unknown
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
    return f"{round(value, 4):g}"


class Layout:
    """Where everything lives under the output folder."""

    def __init__(self, out):
        self.out = Path(out)
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


def gradebook_csv(records):
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=GRADEBOOK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for student in sorted(records):
        writer.writerow(records[student].gradebook_row())
    return stream.getvalue()


def write_gradebook(layout):
    """Rebuild gradebook.csv from the committed records; return them."""
    records = load_records(layout)
    write_text_atomically(layout.gradebook, gradebook_csv(records))
    return records
