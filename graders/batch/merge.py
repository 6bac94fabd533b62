"""Committing a grading done on cluster nodes: one record from its task's (or two tasks') results.

A node returns the student folder its local runner committed (results.json, grading.log,
the Q2 gallery, record.json), naming the node's own paths. Here those paths become the
ones a local run would show, a second task's training checks (--slow/--gpu) join the
first's results, and the folder is committed into `--out` as a local run commits it.
"""
import os
import shutil
import time

from graders import questions
from graders.batch import judges, remote, results, store
from graders.batch.runner import finish, moved_paths, reason_with_note, relocated, started_at
from graders.batch.store import Record, Status
from graders.batch.unzip import InvalidSubmission

SEVERITY = (Status.GRADED, Status.TIMEOUT, Status.CRASHED)  # the worse of two parts' statuses is the record's
TRAINING_LOG_HEADER = "\n===== Q3's training checks (--slow/--gpu), graded on node {node} =====\n"


def node_moves(job, layout, result):
    """The node's paths in `result` -> what a local run of `job` shows for them."""
    shown_submission = relocated(os.path.abspath(job.submission), moved_paths(job, layout))
    return {result.student_dir: str(layout.student_dir(job.student).absolute()), result.source: shown_submission}


def unpack(result, folder, moves):
    """Unpack a node's student folder into `folder` with its paths moved; return the node's Record."""
    remote.unzip_bytes(result.folder, folder, remote.RESULT_LIMITS)
    record = store.read_record(folder)
    if record is None:
        raise ValueError(f"node {result.node} returned no readable record")
    os.unlink(folder / "record.json")  # the driver writes its own
    replacements = {os.fsencode(old): os.fsencode(new) for old, new in moves.items()}
    for name in ("results.json", "grading.log"):
        if (folder / name).is_file():
            store.rewrite_file(folder / name, replacements)
    record.reason = relocated(record.reason, moves)
    return record


def merged_results(main, extra, note=""):
    """`main` results with `extra`'s checks added: scores, maxima, time and hw9 data summed.

    The output stays `main`'s (what ran where: the same for both), with `note` after it.
    """
    hw9, other = results.hw9_data(main), results.hw9_data(extra)
    order = {name: index for index, name in enumerate(questions.names())}
    tests = [*main.get("tests", []), *extra.get("tests", [])]
    merged = {
        **main,
        "tests": sorted(tests, key=lambda test: order.get(results.question_name(test["name"]), len(order))),  # as one judge orders them
        "score": round(float(main.get("score", 0.0)) + float(extra.get("score", 0.0)), 4),
        "max_score": round(float(main.get("max_score", 0.0)) + float(extra.get("max_score", 0.0)), 4),
        "execution_time": round(float(main.get("execution_time", 0.0)) + float(extra.get("execution_time", 0.0)), 2),
    }
    merged["output"] = "\n".join(text for text in (str(main.get("output", "")).strip(), note) if text)
    extra_data = dict(main.get("extra_data") or {})
    extra_data["hw9"] = {
        **(extra_data.get("hw9") or {}),
        "restarts": hw9.restarts + other.restarts,
        "internal_errors": [*hw9.internal_errors, *other.internal_errors],
        "forked_worker_cpu_seconds": hw9.forked_worker_cpu + other.forked_worker_cpu,
        "disturbed": "; ".join(text for text in (hw9.disturbed, other.disturbed) if text) or None,
    }
    merged["extra_data"] = extra_data
    return merged


def _worse(first, second):
    return max(first, second, key=SEVERITY.index)


def commit_parts(layout, options, parts):
    """Commit the student folder of a job graded by `parts` (cluster.Part, one not training); return its Record."""
    main = next(part for part in parts if not part.training)
    job = main.job
    if main.failure is not None:
        return finish(job, layout, options, main.failure)
    try:
        return _commit_results(layout, options, job, main, [part for part in parts if part.training])
    except (ValueError, OSError, InvalidSubmission) as error:  # a node sent what no node of ours sends
        outcome = judges.Outcome(Status.CRASHED, f"the results from node {main.result.node} cannot be read ({error})")
        return finish(job, layout, options, outcome)


def _commit_results(layout, options, job, main, training_parts):
    record = unpack(main.result, job.staging, node_moves(job, layout, main.result))
    graded = results.read_results(job.staging / "results.json") or results.placeholder_results(record.status, record.reason)
    status, reasons, cpu = record.status, [record.reason], record.cpu_seconds
    for number, part in enumerate(training_parts):
        if part.failure is not None:
            status = _worse(status, part.failure.status)
            reasons.append(f"Q3's training checks: {part.failure.status}: {part.failure.reason}")
            continue
        folder = job.scratch / f"training-{number}"
        extra = unpack(part.result, folder, node_moves(job, layout, part.result))
        note = f"Q3's training checks: {extra.reason}" if extra.status is not Status.GRADED else ""
        graded = merged_results(graded, results.read_results(folder / "results.json") or {}, note)
        status, cpu = _worse(status, extra.status), cpu + extra.cpu_seconds
        reasons += [note] if note else []
        with open(job.staging / "grading.log", "ab") as log:
            log.write(TRAINING_LOG_HEADER.format(node=part.result.node).encode() + (folder / "grading.log").read_bytes())
    if status is Status.GRADED:
        reasons = [results.graded_reason(graded)]
    graded.setdefault("extra_data", {}).setdefault("hw9", {})["cluster"] = [
        {"node": part.result.node, "worker_pid": part.result.worker_pid, "training": part.training}
        for part in (main, *training_parts) if part.result is not None
    ]
    store.write_json_atomically(job.staging / "results.json", graded)
    scores, max_scores = results.scores_of(graded)
    committed = Record(
        student=job.student, status=status, reason=reason_with_note(job, "; ".join(reasons)), source=str(job.source.absolute()),
        fingerprint=job.fingerprint if status is not Status.CRASHED else "", scores=scores, max_scores=max_scores,
        seconds=round(time.monotonic() - job.started, 2), cpu_seconds=round(cpu, 2), started_at=started_at(job), timeout=options.timeout,
        sandbox=record.sandbox, restarts=results.hw9_data(graded).restarts,
    )
    shutil.rmtree(job.scratch, ignore_errors=True)
    store.commit(layout, committed, job.staging)
    return committed
