"""Grading a list of submissions, at most `jobs` judges at a time, one record each.

A single-threaded loop: start judges, reap them, kill those past the time limit, commit
each student's folder as soon as its judge ends. Nothing a submission does can stop the
loop; if the loop itself is interrupted, the running judges are killed and what was
committed stays committed.
"""
import contextlib
import json
import os
import select
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from graders import questions
from graders.batch import judges, processes, results, store
from graders.batch.fingerprint import content_hash
from graders.batch.inputs import questions_present, submission_root, submission_size
from graders.batch.store import Status
from graders.batch.unzip import InvalidSubmission, extract_zip
from graders.judge.harness import MAX_SUBMISSION_BYTES
from graders.judge.report import partial_results_path, remove_rewritten
from graders.judge.safe_files import UnsafeFile, read_regular_file
from graders.judge.sources import notebook_in

POLL_SECONDS = 0.1


@dataclass
class Job:
    """One submission on its way to a record."""

    student: str
    source: Path
    fingerprint: str
    staging: Path  # becomes students/<id>/
    scratch: Path  # unpacked zip, temporary files; removed afterwards
    note: str = ""
    submission: Path = None  # the folder graded
    invalid: str = ""
    pid: int = 0
    pidfd: int = -1  # readable once the judge has ended (-1: none, so the loop polls)
    started: float = 0.0
    timed_out: bool = False

    def cost(self, graded=()):
        """Relative grading time: the costs of the `graded` questions (default all) it has a file for.

        Invalid ones come first (they take no time); then the dearest, so that no long
        grading starts last and keeps one core busy while the others idle.
        """
        if self.submission is None:
            return float("inf")
        present = questions.all_questions() if notebook_in(self.submission) else questions_present(self.submission)
        return sum(question.cost for question in present if not graded or question.name in graded)


def submission_fingerprint(source, grader_fingerprint):
    try:
        return f"{content_hash(source)}-{grader_fingerprint}"
    except (OSError, UnsafeFile):  # unreadable or too large: graded (or refused) afresh every run
        return ""


def is_current(record, fingerprint, timeout):
    """Whether a stored record can stand for this run (`--force` aside)."""
    if record is None or not fingerprint or record.fingerprint != fingerprint:
        return False
    if record.status in (Status.GRADED, Status.INVALID):
        return True
    return record.status is Status.TIMEOUT and record.timeout >= timeout  # a crash is always retried


def prepare(candidate, layout, fingerprint):
    """A Job for `candidate` with its submission unpacked, or marked invalid with the reason."""
    job = Job(
        student=candidate.student, source=candidate.source, fingerprint=fingerprint, note=candidate.note,
        staging=layout.new_staging(candidate.student), scratch=layout.new_staging(candidate.student + ".work"),
    )
    try:
        if candidate.is_zip:
            folder = extract_zip(candidate.source, job.scratch / "submission")
        elif candidate.is_notebook:  # graded as a folder holding it, like a zip holding one
            folder = job.scratch / "submission"
            folder.mkdir()
            (folder / candidate.source.name).write_bytes(read_regular_file(candidate.source, MAX_SUBMISSION_BYTES))
        elif candidate.source.is_dir():
            folder = candidate.source
        else:
            raise InvalidSubmission(f"{candidate.source.name} is neither a folder, a .zip nor a notebook (.ipynb)")
        job.submission = submission_root(folder)
        if submission_size(job.submission) > MAX_SUBMISSION_BYTES:
            raise InvalidSubmission(f"the submission is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB")
    except InvalidSubmission as error:
        job.invalid = str(error)
    except Exception as error:  # unreadable files, odd names: still one row, with the reason
        job.invalid = f"the submission cannot be read ({type(error).__name__}: {error})"
    return job


def reason_with_note(job, reason):
    return f"{reason}; {job.note}" if job.note else reason


def moved_paths(job, layout):
    """What the paths the judge was given become once the student's folder is committed.

    The staging folder becomes students/<id>/; the scratch folder (an unpacked zip, the
    temporary folder) is removed, so its paths are named by what they stood for.
    """
    moves = {
        job.staging: layout.student_dir(job.student).absolute(),
        job.scratch / "submission": job.source.absolute(),  # /class/bob.zip/q1.py: inside the zip
        job.scratch / "tmp": Path("$TMPDIR"),
        job.scratch: Path("(scratch folder)"),
    }
    return {form: str(new) for old, new in moves.items() for form in {os.path.abspath(old), os.path.realpath(old)}}


def relocated(text, moves):
    """`text` with the judge's paths replaced by `moves` (from moved_paths)."""
    for old in sorted(moves, key=len, reverse=True):
        text = text.replace(old, moves[old])
    return text


def _relocated_results(results, moves):
    """`results` with the judge's paths replaced in every string; None if none was there."""
    text = json.dumps(results, ensure_ascii=False)
    escaped = {json.dumps(old, ensure_ascii=False)[1:-1]: json.dumps(new, ensure_ascii=False)[1:-1] for old, new in moves.items()}
    changed = relocated(text, escaped)
    return json.loads(changed) if changed != text else None


def _log_note(outcome, record):
    """The line hw9-grade adds to grading.log of a grading that did not finish."""
    if outcome.status is Status.TIMEOUT:
        where = f"while running {outcome.running}" if outcome.running else "before any check had started"
        return f"\nhw9-grade: grading was stopped after {record.seconds:.0f} s (the time limit is {record.timeout:g} s) {where}\n"
    return f"\nhw9-grade: {record.status}: {record.reason}\n" if outcome.status is Status.CRASHED else ""


def started_at(job):
    """The Unix time `job` started (its monotonic start, which the time limit is measured from); 0 if it did not."""
    return round(time.time() - (time.monotonic() - job.started), 3) if job.started else 0.0


def finish(job, layout, options, outcome, cpu_seconds=0.0):
    """Commit the student's folder with the judges.Outcome of its grading; return its record."""
    seconds = time.monotonic() - job.started if job.started else 0.0
    if outcome.results is not None:  # its workers forked by the fork server are not the judge's children
        cpu_seconds += results.hw9_data(outcome.results).forked_worker_cpu
    moves = moved_paths(job, layout)
    record = store.Record(
        student=job.student, status=outcome.status, reason=reason_with_note(job, relocated(outcome.reason, moves)),
        source=str(job.source.absolute()), fingerprint=job.fingerprint if outcome.status is not Status.CRASHED else "",
        seconds=round(seconds, 2), cpu_seconds=round(cpu_seconds, 2), started_at=started_at(job), timeout=options.timeout,
        sandbox=outcome.sandbox,
    )
    if outcome.results is None:
        written = results.placeholder_results(outcome.status, record.reason)
    else:
        record.scores, record.max_scores = results.scores_of(outcome.results)
        record.restarts = results.hw9_data(outcome.results).restarts
        written = _relocated_results(outcome.results, moves) or (outcome.results if outcome.stopped_early else None)
    if written is not None:  # else the judge's own results.json stands
        store.write_json_atomically(job.staging / "results.json", written)
    if job.pid:  # a judge ran and wrote its log
        note = _log_note(outcome, record)
        store.rewrite_file(job.staging / "grading.log", {os.fsencode(old): os.fsencode(new) for old, new in moves.items()}, note.encode())
    with contextlib.suppress(OSError):  # its checks are in results.json now
        remove_rewritten(partial_results_path(job.staging / "results.json"))
    shutil.rmtree(job.scratch, ignore_errors=True)
    store.commit(layout, record, job.staging)
    return record


class Runner:
    """Runs the judges of prepared jobs; `on_record(record)` hears of each committed one."""

    def __init__(self, layout, options, on_record, on_idle=lambda: None):
        self.layout, self.options, self.on_record, self.on_idle = layout, options, on_record, on_idle
        self.running = {}  # pid -> Job
        self.max_score = results.planned_max_score(options.questions, options.rubric)  # of a grading stopped early
        self.subreaper = processes.become_subreaper()

    def run(self, jobs):
        pending = deque(sorted(jobs, key=lambda job: job.cost(self.options.questions), reverse=True))
        try:
            while pending or self.running:
                while pending and len(self.running) < self.options.jobs:
                    self._start(pending.popleft())
                self._enforce_time_limits()
                if not self._reap():
                    self.on_idle()
                    self._wait(POLL_SECONDS)
        finally:
            self._stop_all()

    def _start(self, job):
        job.started = time.monotonic()
        if job.invalid:
            self.on_record(finish(job, self.layout, self.options, judges.Outcome(Status.INVALID, job.invalid)))
            return
        temporary = job.scratch / "tmp"
        try:
            temporary.mkdir(parents=True, exist_ok=True)
            # Outside namespaces the judge's worker runs as a uid of its own and reaches its
            # folder under TMPDIR in place: through these folders, without listing them.
            for folder in (job.scratch, temporary):
                os.chmod(folder, 0o711)
            job.pid = judges.start_judge(job.submission, job.staging, temporary, self.options)
        except OSError as error:  # no process could be started (out of processes or memory)
            why = f"the grading process could not start ({error})"
            self.on_record(finish(job, self.layout, self.options, judges.Outcome(Status.CRASHED, why)))
            return
        self.running[job.pid] = job
        with contextlib.suppress(AttributeError, OSError):  # no pidfd before Linux 5.3: the loop polls
            job.pidfd = os.pidfd_open(job.pid)

    def _wait(self, seconds):
        """Sleep `seconds`, or less: until a judge ends, where every running judge has a pidfd.

        A judge's end starts the next one at once rather than at the next poll (0.05 s
        later on average, 4% of a warm grading).
        """
        pidfds = [job.pidfd for job in self.running.values()]
        if pidfds and -1 not in pidfds:
            select.select(pidfds, [], [], seconds)
        else:
            time.sleep(seconds)

    @staticmethod
    def _close_pidfd(job):
        if job.pidfd != -1:
            os.close(job.pidfd)
            job.pidfd = -1

    def _reap(self):
        """Collect every judge that ended; return whether any did."""
        reaped = False
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return reaped
            if pid == 0:
                return reaped
            job = self.running.pop(pid, None)
            if job is None:
                continue  # an orphan re-parented to us, already killed
            self._close_pidfd(job)
            reaped = True
            if self.subreaper:  # a worker its judge left behind is ours now: stop it
                processes.kill_strays(set(self.running) | self.options.kept_processes())
            outcome = judges.outcome(job.staging, status, job.timed_out, self.options.timeout, self.max_score)
            cpu = usage.ru_utime + usage.ru_stime
            self.on_record(finish(job, self.layout, self.options, outcome, cpu_seconds=cpu))

    def _enforce_time_limits(self):
        now = time.monotonic()
        for pid, job in self.running.items():
            if not job.timed_out and now - job.started > self.options.timeout:
                job.timed_out = True
                processes.kill_tree(pid)

    def _stop_all(self):
        """Kill whatever still runs (an interrupted run); their students stay ungraded."""
        for pid, job in list(self.running.items()):
            processes.kill_tree(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self._close_pidfd(job)
            shutil.rmtree(job.scratch, ignore_errors=True)
            shutil.rmtree(job.staging, ignore_errors=True)
        self.running.clear()
