"""What `hw9-grade` does: find the submissions, grade what is new, write the gradebook and the report."""
import dataclasses
import fcntl
import os
import shutil
import signal
import time
from pathlib import Path

from graders import questions
from graders.batch import cluster, host, judges, store
from graders.batch.arguments import ExitCode, parse_arguments
from graders.batch.fingerprint import grader_fingerprint
from graders.batch.html_report import write_report
from graders.batch.ids import printable
from graders.batch.inputs import find_submissions
from graders.batch.processes import available_cores, seconds_since_launch
from graders.batch.progress import Progress, plural
from graders.batch.results import names
from graders.batch.runner import Runner, is_current, prepare, submission_fingerprint
from graders.batch.store import Status
from graders.judge import warm

MEANINGFUL_WALL_SECONDS = 1.0  # below it, a run's throughput is noise
PRELOADED = "grading processes fork from this one"  # the line that says judges are forked (the corpus reads it)
NOT_PRELOADED = "grading processes start as fresh interpreters"


def fail(parser, message):
    """Stop with argparse's one-line error and its exit code, 2."""
    parser.exit(ExitCode.USAGE, f"{parser.prog}: error: {printable(message)}\n")


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


def _lock(parser, layout):
    layout.out.mkdir(parents=True, exist_ok=True)
    handle = open(layout.out / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fail(parser, f"another hw9-grade is writing to {layout.out}")
    return handle


def _check_rubric(parser, path):
    """Stop with a usage error unless `path` is a readable rubric (every judge would fail on it)."""
    from graders.judge.rubric import load_rubric

    try:
        load_rubric(path)
    except OSError as error:
        fail(parser, f"--rubric {path}: {error.strerror or error}")
    except Exception as error:  # RubricError, a YAML syntax error, an unknown key
        fail(parser, f"--rubric {path} is not a rubric: {error}")


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


def _preload(options, hosted):
    """Fork judges from this process once it has imported their libraries, if it can."""
    started = time.monotonic()
    why_not = judges.preload_libraries()
    if why_not:
        print(f"{NOT_PRELOADED}: {why_not}")
        return dataclasses.replace(options, preload=False)
    if hosted:
        print(f"{PRELOADED}, which had imported TensorFlow and Keras before forking the fork server")
    else:
        print(f"{PRELOADED}, which imported TensorFlow and Keras in {time.monotonic() - started:.0f} s")
    return options


def _why_not_warm(jobs, options, hosted):
    """Why a fork server would not pay for its one TensorFlow import here, or "".

    A hosted one (graders/batch/host.py) shares the judges' import: it costs nothing more,
    and even one submission's worker is spared an import of its own.
    """
    if hosted is not None:
        return ""
    graded = [question for question in questions.all_questions() if not options.questions or question.name in options.questions]
    if sum(not job.invalid for job in jobs) < 2:
        return "fewer than two submissions to grade"
    if not any(question.keras_in_worker for question in graded):
        return "the questions graded run no Keras in the worker"
    return ""


def _start_fork_server(options, log_path, hosted=None):
    """One fork server for the class: every judge's workers fork from it (its control socket is inherited)."""
    if hosted is not None:
        server, how = hosted, "forked from hw9-grade before it read its options (one TensorFlow import for both)"
    else:
        try:
            server, how = warm.start_fork_server(log_path), "that imports TensorFlow once"
        except OSError as error:
            print(f"workers start as fresh interpreters: the fork server could not start ({error})")
            return None, dataclasses.replace(options, warm_workers=False)
    os.set_inheritable(server.control.fileno(), True)  # kept by judges started with exec (--no-preload)
    print(f"workers fork from one fork server {how} (--no-warm-workers: a fresh interpreter each)")
    return server, dataclasses.replace(options, fork_server_fd=server.control.fileno(), fork_server_pid=server.process.pid)


def _seconds(value):
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def per_submission_per_core(seconds, count, cores):
    """The machine's core-seconds each of `count` submissions cost: wall time times all its cores, whatever --jobs used."""
    return seconds * cores / count


def throughput(records, seconds, cores, startup=None):
    """What this run's gradings took; "" if it ran none. Per core only when it means something.

    `startup`: seconds from hw9-grade's launch to its first grading (the libraries' one
    import is most of it), which no number of jobs shortens; None if not known.
    """
    judged = [record for record in records if record.status is not Status.INVALID]
    if not judged:
        return ""
    count = len(judged)
    statuses = ", ".join(f"{n} {status}" for status in Status if (n := sum(record.status is status for record in judged)))
    cpu = sum(record.cpu_seconds for record in judged) / count
    line = f"{plural(count, 'grading')} in {_seconds(seconds)} s ({statuses})"
    if count < 2 or seconds < MEANINGFUL_WALL_SECONDS:
        line = f"{line}, {_seconds(cpu)} s of CPU{' each' if count > 1 else ''}"
    else:
        line = (
            f"{line}: {seconds / count:.1f} s of wall time each, {per_submission_per_core(seconds, count, cores):.1f} s per submission per core "
            f"({plural(cores, 'core')}), {cpu:.1f} s of CPU each"
        )
    return line if startup is None else f"{line}; the first started {startup:.1f} s after hw9-grade was launched"


def exit_code(students, records, fail_under=None):
    """(ExitCode, why) for the submissions named on the command line (`students`), by their records."""
    failed = [f"{student} ({records[student].status if student in records else 'no record'})"
              for student in students if student not in records or records[student].status is not Status.GRADED]
    if failed:
        return ExitCode.NOT_GRADED, f"{plural(len(failed), 'submission')} not graded: {names(failed)}"
    below = [f"{student} ({records[student].total:g})" for student in students if fail_under is not None and records[student].total < fail_under]
    if below:
        return ExitCode.BELOW_FAIL_UNDER, f"{plural(len(below), 'submission')} below --fail-under {fail_under:g}: {names(below)}"
    return ExitCode.GRADED, ""


def grade(jobs, layout, options, connection=None, cpus_per_judge=1.0):
    """Run the jobs (here, or on the cluster of `connection`) with a progress display; return (interrupted, throughput line)."""
    progress = Progress(len(jobs))
    finished = []

    def recorded(record):
        store.write_gradebook(layout)  # a killed run still leaves a gradebook of what is done
        finished.append(record)
        progress.update(record)

    interrupted, started, startup = False, time.monotonic(), seconds_since_launch()
    try:
        progress.start()
        if connection is None:
            Runner(layout, options, on_record=recorded, on_idle=progress.tick).run(jobs)
        else:
            cluster.ClusterRunner(layout, options, recorded, progress.tick, connection, cpus_per_judge).run(jobs)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        layout.clear_staging()
    return interrupted, throughput(finished, time.monotonic() - started, options.cores, startup)


def _options(parser, arguments):
    _check_rubric(parser, arguments.rubric)
    return judges.GradingOptions(
        jobs=arguments.jobs or available_cores(), timeout=arguments.timeout, questions=arguments.only,
        seed=arguments.grading_seed, preload=arguments.preload, cores=available_cores(),
        require_sandbox=arguments.require_sandbox, rubric=arguments.rubric.absolute(),
        worker_memory_gb=arguments.worker_memory_gb, slow=arguments.slow, gpu=arguments.gpu, warm_workers=arguments.warm_workers,
    )


def _join_cluster(parser, arguments, jobs, options):
    """(connection, options) for grading on the cluster --cluster names; a usage error if it cannot."""
    try:
        connection = cluster.connect(arguments.cluster)
    except cluster.ClusterError as error:
        fail(parser, str(error))
    problem = cluster.problem(jobs, options, connection)
    if problem:
        fail(parser, problem)
    slots = arguments.jobs or max(1, int(connection.cpus // arguments.cpus_per_judge))
    print(printable(f"grading on the {connection.describe(arguments.cluster)}: {slots} at a time, "
                    f"{arguments.cpus_per_judge:g} CPU{'s' * (arguments.cpus_per_judge != 1)} each"))
    # The nodes start their judges and workers themselves; nothing is preloaded or forked here.
    return connection, dataclasses.replace(options, jobs=slots, cores=max(1, int(connection.cpus)), preload=False, warm_workers=options.warm_workers)


def _summary(students, records):
    """The counts line over the submissions named on the command line."""
    named = [records[student] for student in students if student in records]
    counts = [f"{n} {status}" for status in Status if (n := sum(record.status is status for record in named))]
    if len(named) < len(students):
        counts.append(f"{len(students) - len(named)} not graded yet")
    line = f"{plural(len(students), 'submission')}: {', '.join(counts)}"
    if len(records) > len(named):
        line += f" (the gradebook holds {plural(len(records), 'submission')})"
    return line


def run(argv=None, hosted=None):
    """hw9-grade; `hosted` is the fork server graders/batch/host.py started, used or closed here."""
    try:
        return _run(argv, hosted)
    finally:
        if hosted is not None:
            hosted.close()


def _run(argv, hosted):
    parser, arguments = parse_arguments(argv)
    layout = store.Layout(arguments.out)
    options = _options(parser, arguments)
    try:
        candidates, ignored = find_submissions(arguments.submissions)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as error:
        fail(parser, str(error))
    problem = out_problem(arguments.out, arguments.submissions, candidates)
    if problem:
        fail(parser, problem)
    _announce_sandbox(parser, options.require_sandbox)
    try:
        lock = _lock(parser, layout)
    except OSError as error:
        fail(parser, f"--out {arguments.out} cannot be used: {error.strerror or error}")
    signal.signal(signal.SIGTERM, _interrupt)
    layout.clear_staging()
    for skipped in ignored:
        print(printable(f"skipping {skipped.path}: {skipped.reason}"))
    for variable in judges.ignored_settings_variables():
        print(f"hw9-grade: {variable} is not passed to the judges; hw9-grade's options set what it sets")
    jobs, kept = plan(candidates, layout, options, arguments.force)
    connection = None
    if arguments.cluster is not None:
        connection, options = _join_cluster(parser, arguments, jobs, options)
    print(printable(
        f"hw9-grade: {plural(len(candidates), 'submission')}, {len(kept)} already graded and unchanged, "
        f"{len(jobs)} to grade ({options.jobs} at a time, {options.timeout:g} s each) into {layout.out}"
    ))
    fork_server = None
    why_cold = _why_not_warm(jobs, options, hosted) if connection is None else ""
    if why_cold and options.warm_workers:
        print(f"workers start as fresh interpreters: {why_cold}")
        options = dataclasses.replace(options, warm_workers=False)
    if hosted is not None:
        hosted.log_path = layout.out / host.LOG_NAME
    if options.warm_workers and connection is None:
        fork_server, options = _start_fork_server(options, layout.out / host.LOG_NAME, hosted)
    if options.preload and any(not job.invalid for job in jobs):
        options = _preload(options, hosted is not None)
    if connection is None:
        options = dataclasses.replace(options, oracle_cache=str(layout.new_oracle_cache()))
    try:
        interrupted, throughput_line = grade(jobs, layout, options, connection, arguments.cpus_per_judge)
    finally:
        if fork_server is not None:
            fork_server.close()
        if options.oracle_cache is not None:
            shutil.rmtree(options.oracle_cache, ignore_errors=True)
    records = store.write_gradebook(layout)
    report = write_report(layout, records)
    students = [candidate.student for candidate in candidates]
    print(printable(("interrupted; the next run grades the rest. " if interrupted else "") + _summary(students, records)))
    if throughput_line:
        print(throughput_line)
    print(printable(f"gradebook: {layout.gradebook}\nreport:    {report}"))
    lock.close()
    if interrupted:
        return ExitCode.INTERRUPTED
    code, why = exit_code(students, records, arguments.fail_under)
    if why:
        print(printable(f"exit code {code.value}: {why}"))
    return code
