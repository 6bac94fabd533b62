"""Grading the corpus as an instructor grades a class: with `hw9-grade` itself.

The entries are copied into a class folder, one student folder each (named after the
entry, with its special files made), and one `hw9-grade CLASS --out GRADES --jobs N` run
grades them: the same input stage, the same judges forked from a process that imported
TensorFlow once, the same judge arguments, time limit, scheduling and CPU accounting.
Each entry's committed `record.json` and `results.json` are then compared with its
expectation.
"""
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from graders import questions
from graders.batch import arguments, command, store
from graders.batch.ids import student_id
from graders.batch.processes import available_cores
from graders.batch.results import question_scores, read_results
from graders.batch.store import Status
from graders.judge.safe_files import UnsafeFile, read_tail
from graders.layout import PROJECT_ROOT
from graders.selftest.compare import SCORE_TOLERANCE, Difference, DifferenceKind, compare, excerpt
from graders.selftest.expectations import CorpusEntry, EntryKind, absent_questions, copy_entry

HW9_GRADE = (sys.executable, "-m", "graders.batch.cli")
DEFAULT_TIMEOUT = arguments.DEFAULT_TIMEOUT  # hw9-grade's own limit per submission
STOP_GRACE_SECONDS = 30.0  # after SIGTERM (hw9-grade then kills its judges), before SIGKILL
LOG_TAIL_BYTES = 4000


@dataclass
class GradeRun:
    """One entry as hw9-grade graded it."""

    entry: CorpusEntry
    results: dict = None  # the student's results.json; None unless the grading finished
    status: Status = None  # the gradebook's; None if hw9-grade committed no record
    seconds: float = 0.0  # wall time of its grading
    cpu_seconds: float = 0.0  # its judge and worker together, as hw9-grade counts them
    log: str = ""  # tail of its grading log
    differences: list = field(default_factory=list)


@dataclass
class CorpusRun:
    """Every entry graded by one hw9-grade run."""

    runs: dict  # entry name -> GradeRun, by name
    wall_seconds: float
    cpu_seconds: float  # hw9-grade and everything it started, preloading included
    jobs: int
    preloaded: bool  # whether the judges were forked from a process that imported TensorFlow
    out: Path  # hw9-grade's --out
    output: str = ""  # the tail of hw9-grade's own output

    @property
    def grading_cpu_seconds(self):
        return sum(run.cpu_seconds for run in self.runs.values())


def class_folder(entries, folder):
    """A class folder holding a copy of each entry as a student's folder named after it."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    for entry in entries:
        copy_entry(entry, folder / entry.name)
    return folder


def _environment():
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_to_end(command, log_path, limit):
    """Run `command` (hw9-grade), its output into `log_path`; (exit code, CPU seconds, stopped).

    Past `limit` seconds it is stopped as SIGTERM stops hw9-grade (its judges are killed,
    what it committed stays), killed if it does not end. wait4 gives the CPU time of
    everything it started.
    """
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_environment(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline, stopped_at = time.monotonic() + limit, None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if stopped_at is None and now > deadline:
            stopped_at = now
            process.send_signal(signal.SIGTERM)
        elif stopped_at is not None and now > stopped_at + STOP_GRACE_SECONDS:
            process.kill()
        time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime, stopped_at is not None


def _tail(path, limit=LOG_TAIL_BYTES):
    try:
        return read_tail(path, limit).decode(errors="replace")
    except (OSError, UnsafeFile):
        return ""


def collect(entry, student_folder, absent, hw9_grade_output=""):
    """The GradeRun of `entry` from its folder under hw9-grade's students/."""
    run = GradeRun(entry=entry, log=_tail(Path(student_folder) / "grading.log"))
    record = store.read_record(student_folder)
    if record is None:
        why = f"hw9-grade committed no record of it: {excerpt(hw9_grade_output[-1500:], 1500)}"
        run.differences.append(Difference(DifferenceKind.GRADING, why))
        return run
    run.status, run.seconds, run.cpu_seconds = record.status, record.seconds, record.cpu_seconds
    if record.status is not Status.GRADED:
        why = f"hw9-grade recorded it as {record.status}: {record.reason}; grading log: {excerpt(run.log[-1500:], 1500)}"
        run.differences.append(Difference(DifferenceKind.GRADING, why))
        return run
    try:
        run.results = read_results(Path(student_folder) / "results.json")
    except ValueError as error:
        run.differences.append(Difference(DifferenceKind.GRADING, f"its results.json cannot be read: {error}"))
        return run
    run.differences.extend(compare(run.results, entry.expected, absent))
    return run


def grade_all(entries, output_dir, jobs=None, timeout=DEFAULT_TIMEOUT):
    """Grade `entries` with one hw9-grade run under `output_dir` (class/, grades/); return a CorpusRun."""
    output_dir = Path(output_dir)
    jobs = jobs or available_cores()
    klass, out, log = output_dir / "class", output_dir / "grades", output_dir / "hw9-grade.log"
    class_folder(entries, klass)
    absent = {entry.name: absent_questions(entry, klass / entry.name) for entry in entries}
    limit = timeout * math.ceil(len(entries) / jobs) + 600  # a bound on hw9-grade itself: each grading has its own
    started = time.monotonic()
    arguments = [klass, "--out", out, "--jobs", jobs, "--timeout", f"{timeout:g}", "--force"]
    code, cpu, stopped = run_to_end([*HW9_GRADE, *map(str, arguments)], log, limit)
    wall = time.monotonic() - started
    output = log.read_text(errors="replace")
    if code or stopped:
        output += f"\n(hw9-grade exited with code {code}{' after it was stopped' if stopped else ''})"
    layout = store.Layout(out)
    runs = {entry.name: collect(entry, layout.student_dir(student_id(entry.name)), absent[entry.name], output) for entry in entries}
    return CorpusRun(
        runs=dict(sorted(runs.items())), wall_seconds=wall, cpu_seconds=cpu, jobs=jobs,
        preloaded=command.PRELOADED in output, out=out, output=output[-LOG_TAIL_BYTES:],
    )


def grade_entry(entry, output_dir, timeout=DEFAULT_TIMEOUT):
    """Grade one entry as a class of one; its GradeRun."""
    return grade_all([entry], output_dir, jobs=1, timeout=timeout).runs[entry.name]


def summary_line(runs):
    """`corpus: N valid all 100, M mutants all caught, K named correctly, H hostile all contained`.

    A mutant is caught when grading finished, every check it lists failed and its scores
    match; it is named correctly when every listed keyword appeared in the feedback.
    """
    runs = list(runs)
    by_kind = {kind: [run for run in runs if run.entry.expected.kind is kind] for kind in EntryKind}
    wrong_catch = {DifferenceKind.UNKNOWN, DifferenceKind.PASSED, DifferenceKind.SCORE}
    wrong_name = {DifferenceKind.UNKNOWN, DifferenceKind.PASSED, DifferenceKind.KEYWORD}
    mutants = [run for run in by_kind[EntryKind.MUTANT] if run.results]
    valid_full = sum(1 for run in by_kind[EntryKind.VALID] if run.results and not run.differences and abs(run.results.get("score", 0) - 100) <= SCORE_TOLERANCE)
    caught = sum(1 for run in mutants if not _kinds(run) & wrong_catch)
    named = sum(1 for run in mutants if not _kinds(run) & wrong_name)
    contained = sum(1 for run in by_kind[EntryKind.HOSTILE] if run.results and not run.differences)
    parts = [
        _count(len(by_kind[EntryKind.VALID]), valid_full, "valid", "all 100", "at 100"),
        _count(len(by_kind[EntryKind.MUTANT]), caught, "mutants", "all caught", "caught"),
        f"{named} named correctly",
        _count(len(by_kind[EntryKind.HOSTILE]), contained, "hostile", "all contained", "contained"),
    ]
    return "corpus: " + ", ".join(parts)


@dataclass(frozen=True)
class FalseNegativeAudit:
    """What correct work in every style the corpus holds lost: it must be nothing."""

    entries: int
    styles: tuple  # every style some valid entry is written in, sorted
    points_lost: float  # by valid entries, against the points their questions are worth
    not_graded: tuple  # valid entries whose grading did not finish: their loss is unknown

    def line(self):
        line = f"false-negative audit: {self.entries} valid entries, {len(self.styles)} styles covered, {self.points_lost:g} points lost by valid entries"
        return line + (f", {len(self.not_graded)} not graded ({', '.join(self.not_graded)})" if self.not_graded else "")


def false_negative_audit(runs):
    """The audit of the valid entries among `runs`."""
    valid = [run for run in runs if run.entry.expected.kind is EntryKind.VALID]
    graded = [run for run in valid if run.results is not None]
    full = sum(question.points for question in questions.all_questions())
    lost = sum(full - sum(question_scores(run.results).values()) for run in graded)
    styles = tuple(sorted({style for run in valid for style in run.entry.expected.styles}))
    return FalseNegativeAudit(len(valid), styles, round(max(lost, 0.0), 2), tuple(run.entry.name for run in valid if run.results is None))


def _kinds(run):
    return {difference.kind for difference in run.differences}


def _count(total, good, noun, all_good, some_good):
    return f"{total} {noun} {all_good}" if good == total else f"{total} {noun}, only {good} {some_good}"
