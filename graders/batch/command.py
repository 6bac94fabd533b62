"""What `hw9-grade` does: find the submissions, grade what is new, write the gradebook and the report."""
import argparse
import dataclasses
import fcntl
import signal
import time
from pathlib import Path

from graders import questions
from graders.batch import judges, store
from graders.batch.fingerprint import grader_fingerprint
from graders.batch.html_report import write_report
from graders.batch.ids import printable
from graders.batch.inputs import find_submissions
from graders.batch.processes import available_cores
from graders.batch.progress import Progress
from graders.batch.runner import Runner, is_current, prepare, submission_fingerprint
from graders.batch.store import Status

DEFAULT_TIMEOUT = 600.0
INTERRUPTED_EXIT = 130
PRELOADED = "grading processes fork from this one"  # the line that says judges are forked (the corpus reads it)
NOT_PRELOADED = "grading processes start as fresh interpreters"


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def _questions(text):
    wanted = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in wanted if name not in questions.names()]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"expected questions among {','.join(questions.names())}, got {text!r}")
    return wanted


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog="hw9-grade",
        description="Grade many hw9 submissions in parallel into DIR/gradebook.csv, DIR/report.html and "
        "a Gradescope results.json per student (DIR/students/<id>/). Re-running with the same --out "
        "grades only what is new or changed.",
    )
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a submission folder, a .zip of one, or a folder of those (one per student)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--jobs", type=_positive(int), default=available_cores(), help="submissions graded at once (default: CPU cores, %(default)s here)")
    parser.add_argument("--timeout", type=_positive(float), default=DEFAULT_TIMEOUT, help="seconds allowed per submission (default %(default)g)")
    parser.add_argument("--only", type=_questions, default=(), metavar="q1,q3", help="grade only these questions")
    parser.add_argument("--force", action="store_true", help="regrade submissions already graded")
    parser.add_argument("--grading-seed", type=int, default=0, help="seed of the graders' random cases (default 0)")
    parser.add_argument(
        "--require-sandbox", choices=judges.SANDBOX_LEVELS[::-1], default="none",
        help="grade only if the workers that run student code get at least this sandbox (default: %(default)s)",
    )
    parser.add_argument(
        "--no-preload", dest="preload", action="store_false",
        help="start every grading process as a fresh interpreter instead of forking one that has imported TensorFlow",
    )
    return parser, parser.parse_args(argv)


def fail(parser, message):
    """Stop with argparse's one-line error and its exit code, 2."""
    parser.exit(2, f"{parser.prog}: error: {printable(message)}\n")


def _within(path, folder):
    return path == folder or folder in path.parents


def out_problem(out, arguments, candidates):
    """Why `--out` cannot be used with these submissions, or "".

    Writing inside a class folder or a submission would grade our own outputs next
    time, and a submission under students/ or .staging/ would be replaced by the commit.
    """
    if out.exists() and not out.is_dir():
        return f"--out {out} is an existing file, not a folder"
    real_out = out.resolve()
    for path in map(Path, arguments):
        if _within(real_out, path.resolve()):
            return f"--out {out} is {'' if real_out == path.resolve() else 'inside '}the SUBMISSION argument {path}"
    managed = (store.Layout(real_out).students, store.Layout(real_out).staging)
    for candidate in candidates:
        real = candidate.source.resolve()
        if _within(real_out, real) or any(_within(real, folder) for folder in managed):
            return f"the submission {candidate.source} and --out {out} overlap"
    return ""


def _lock(layout):
    layout.out.mkdir(parents=True, exist_ok=True)
    handle = open(layout.out / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"hw9-grade: another hw9-grade is writing to {layout.out}") from None
    return handle


def _announce_sandbox(parser, required):
    """Say once which sandbox the judges' workers get; stop if it is below `required`."""
    level, description = judges.sandbox_in_force()
    print(printable(f"sandbox: {level or 'unknown'}{f' ({description})' if description else ''}"))
    levels = judges.SANDBOX_LEVELS
    if level in levels and levels.index(level) < levels.index(required):
        fail(parser, f"--require-sandbox {required}: workers here get only {level}; not grading")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def plan(candidates, layout, options, force):
    """(jobs to run, records that stand) for the candidates."""
    fingerprint = grader_fingerprint(options.fingerprinted())
    existing = store.load_records(layout)
    jobs, kept = [], []
    for candidate in candidates:
        current = submission_fingerprint(candidate.source, fingerprint)
        record = existing.get(candidate.student)
        if not force and is_current(record, current, options.timeout):
            kept.append(record)
        else:
            jobs.append(prepare(candidate, layout, current))
    return jobs, kept


def _preload(options):
    """Fork judges from this process once it has imported their libraries, if it can."""
    started = time.monotonic()
    why_not = judges.preload_libraries()
    if why_not:
        print(f"{NOT_PRELOADED}: {why_not}")
        return dataclasses.replace(options, preload=False)
    print(f"{PRELOADED}, which imported TensorFlow and Keras in {time.monotonic() - started:.0f} s")
    return options


def _throughput(records, seconds, cores):
    judged = [record for record in records if record.status is not Status.INVALID]
    if not judged:
        return ""
    count = len(judged)
    cpu = sum(record.cpu_seconds for record in judged) / count
    return (
        f"{count} graded in {seconds:.0f} s: {seconds / count:.1f} s of wall time each, "
        f"{seconds * cores / count:.1f} s per submission per core ({cores} cores), {cpu:.1f} s of CPU each"
    )


def grade(jobs, layout, options):
    """Run the jobs with a progress display; return (exit code, throughput line)."""
    progress = Progress(len(jobs))
    finished = []

    def recorded(record):
        store.write_gradebook(layout)  # a killed run still leaves a gradebook of what is done
        finished.append(record)
        progress.update(record)

    code, started = 0, time.monotonic()
    try:
        progress.start()
        Runner(layout, options, on_record=recorded, on_idle=progress.tick).run(jobs)
    except KeyboardInterrupt:
        code = INTERRUPTED_EXIT
    finally:
        progress.close()
        layout.clear_staging()
    return code, _throughput(finished, time.monotonic() - started, options.cores)


def run(argv=None):
    parser, arguments = parse_arguments(argv)
    layout = store.Layout(arguments.out)
    options = judges.GradingOptions(
        jobs=arguments.jobs, timeout=arguments.timeout, questions=arguments.only,
        seed=arguments.grading_seed, preload=arguments.preload, cores=available_cores(),
        require_sandbox=arguments.require_sandbox,
    )
    try:
        candidates, ignored = find_submissions(arguments.submissions)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as error:
        fail(parser, str(error))
    problem = out_problem(arguments.out, arguments.submissions, candidates)
    if problem:
        fail(parser, problem)
    _announce_sandbox(parser, options.require_sandbox)
    try:
        lock = _lock(layout)
    except OSError as error:
        fail(parser, f"--out {arguments.out} cannot be used: {error.strerror or error}")
    signal.signal(signal.SIGTERM, _interrupt)
    layout.clear_staging()
    for skipped in ignored:
        print(printable(f"skipping {skipped.path}: {skipped.reason}"))
    jobs, kept = plan(candidates, layout, options, arguments.force)
    print(printable(
        f"hw9-grade: {len(candidates)} submissions, {len(kept)} already graded and unchanged, "
        f"{len(jobs)} to grade ({options.jobs} at a time, {options.timeout:g} s each) into {layout.out}"
    ))
    if options.preload and any(not job.invalid for job in jobs):
        options = _preload(options)
    code, throughput = grade(jobs, layout, options)
    records = store.write_gradebook(layout)
    report = write_report(layout, records)
    counts = {status: sum(record.status is status for record in records.values()) for status in Status}
    print(f"{'interrupted; the next run grades the rest. ' if code else ''}" + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if throughput:
        print(throughput)
    print(printable(f"gradebook: {layout.gradebook}\nreport:    {report}"))
    lock.close()
    return code
