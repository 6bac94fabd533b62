"""Scores per check and question, the terminal table and Gradescope's results.json."""
import contextlib
import ctypes
import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CheckOutcome:
    """One graded case: a pytest item scored against its rubric item."""

    name: str  # e.g. "q2.filter_keras[blur-uint8]"
    question: str
    max_score: float
    score: float
    status: str  # "passed", "failed", "skipped"
    visibility: str
    output: str = ""
    seconds: float = 0.0
    mistakes: list = field(default_factory=list)  # {"id", "title", "params"} of each likely mistake, the first foremost

    def test_entry(self):
        """The case as a Gradescope test; a likely mistake goes in extra_data.mistake (more in .also)."""
        entry = {
            "name": self.name,
            "score": round(self.score, 4),
            "max_score": round(self.max_score, 4),
            "status": "passed" if self.status == "passed" else "failed",
            "output": self.output,
            "visibility": self.visibility,
        }
        if self.mistakes:
            first, *also = self.mistakes
            entry["extra_data"] = {"mistake": first, **({"also": also} if also else {})}
        return entry


@dataclass
class GradeReport:
    submission: str
    sandbox: object = None  # graders.judge.jail.SandboxInfo of the worker, once one started
    outcomes: list = field(default_factory=list)
    events: list = field(default_factory=list)
    execution_time: float = 0.0
    running: str | None = None  # the check under way, in a partial report
    disturbed: str = ""  # why the grading cannot be trusted, if something outside changed it
    internal_errors: list = field(default_factory=list)  # graders.judge.state.InternalError: the grader's faults
    notebook: dict | None = None  # graders.judge.sources.GradedSource.as_data() of a notebook submission
    forked_worker_cpu: float = 0.0  # CPU seconds of the workers forked by the fork server (not this process's children)

    @property
    def score(self):
        return sum(outcome.score for outcome in self.outcomes)

    @property
    def max_score(self):
        return sum(outcome.max_score for outcome in self.outcomes)

    def per_question(self):
        table = {}
        for outcome in self.outcomes:
            row = table.setdefault(outcome.question, {"score": 0.0, "max_score": 0.0, "passed": 0, "checks": 0})
            row["score"] += outcome.score
            row["max_score"] += outcome.max_score
            row["checks"] += 1
            row["passed"] += outcome.status == "passed"
        return dict(sorted(table.items()))

    def table_lines(self):
        lines = [f"{'question':<10}{'score':>16}{'checks passed':>16}"]
        for question, row in self.per_question().items():
            score = f"{_fmt(row['score'])}/{_fmt(row['max_score'])}"
            lines.append(f"{question:<10}{score:>16}{row['passed']:>10}/{row['checks']:<5}")
        lines.append(f"{'total':<10}{_fmt(self.score) + '/' + _fmt(self.max_score):>16}")
        return lines

    def gradescope(self):
        return {**self.summary(), "tests": [outcome.test_entry() for outcome in self.outcomes]}

    def summary(self):
        """Everything of `gradescope()` but its tests."""
        output = [f"Submission graded in a confined worker ({self.sandbox.description})."] if self.sandbox else []
        output += [f"Worker restarted: {event}" for event in self.events]
        if self.notebook:
            output += ["", "Graded the modules built from the notebook (it was not run):", *_notebook_lines(self.notebook)]
        return {
            "score": round(self.score, 4),
            "max_score": round(self.max_score, 4),
            "execution_time": round(self.execution_time, 2),
            "output": "\n".join(output),
            "visibility": "visible",
            "extra_data": {
                "hw9": {
                    "sandbox": self.sandbox.as_data() if self.sandbox else None,
                    "running": self.running,
                    "disturbed": self.disturbed or None,
                    "internal_errors": [error.check for error in self.internal_errors],
                    "restarts": len(self.events),
                    "notebook": self.notebook,
                    "forked_worker_cpu_seconds": round(self.forked_worker_cpu, 3),
                }
            },
        }


class PartialResults:
    """A grading's results.partial.json (see `partial_results_path`), rewritten as each check starts and ends (see `rewrite_text`).

    A check's outcome never changes once recorded, so its test entry is encoded once: the
    rewrites of a grading cost its checks once each, not once per rewrite (218 rewrites of
    up to 109 entries each for the reference).
    """

    def __init__(self, path):
        self.path, self._encoded = Path(path), []  # (outcome, its entry's JSON), in report order

    def write(self, report):
        kept = 0
        for (outcome, _), current in zip(self._encoded, report.outcomes):
            if outcome is not current:
                break
            kept += 1
        del self._encoded[kept:]
        self._encoded += [(outcome, json.dumps(outcome.test_entry())) for outcome in report.outcomes[kept:]]
        summary = json.dumps(report.summary())  # a JSON object: "{...}"
        tests = ", ".join(text for _, text in self._encoded)
        rewrite_text(self.path, f'{summary[:-1]}, "tests": [{tests}]}}')


NOTEBOOK_LINES = 400  # of the cell-by-cell account in results.json's output; all of it is in extra_data


def _notebook_lines(notebook):
    if "error" in notebook:
        return [f"the notebook could not be read: {notebook['error']}"]
    lines = list(notebook["summary"])
    return lines[:NOTEBOOK_LINES] + ([f"... and {len(lines) - NOTEBOOK_LINES} more lines"] if len(lines) > NOTEBOOK_LINES else [])


def _fmt(number):
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomically(path, data):
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(json.dumps(data, indent=2))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600: the instructor's group reads grades too
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def partial_results_path(results_path):
    """Where a grading writing `results_path` keeps its results so far: results.json's are in
    results.partial.json beside it. Named after the results file, not fixed, so gradings that
    write different results files into one folder never rewrite each other's."""
    results_path = Path(results_path)
    return results_path.with_name(f"{results_path.stem}.partial.json")


def rewritten_versions(path):
    """Where `rewrite_text(path, ...)` may have left its latest whole text, in the order to try them.

    A version is committed by the rename (or exchange) that puts it at `path`: `path` holds
    the latest committed one. A writer stopped after unlinking `path` and before its rename
    leaves that version only in the temporary; the temporary beside `path` is otherwise the
    version before (exchanged out) or one being written, cut short or not yet committed.
    """
    return [Path(path), Path(f"{path}.tmp")]


def remove_rewritten(path):
    """Remove every version of a file `rewrite_text` wrote (its checks are in results.json now, say)."""
    for version in rewritten_versions(path):
        with contextlib.suppress(FileNotFoundError):
            version.unlink()


def rewrite_json(path, data):
    """`rewrite_text` of `data` as one compact line of JSON."""
    rewrite_text(path, json.dumps(data))


def rewrite_text(path, text):
    """Replace a file that only this process writes, through a temporary beside it.

    For a file rewritten after every check, 218 times a grading: the text is written over
    the temporary in place, then exchanged with `path` (renameat2 RENAME_EXCHANGE), so two
    inodes serve every rewrite. A new file per rewrite would cost an inode each, which ext4
    without a journal finds more slowly the more files were deleted lately (see
    graders/worker/protocol.py). Not truncated to nothing first: ext4 writes such a file back
    to disk when it is closed (auto_da_alloc), and so would a rename over `path`, which is
    why, where the exchange is refused, `path` is unlinked before the rename.
    """
    temporary = str(rewritten_versions(path)[1])
    data = text.encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        handle = os.open(temporary, flags, 0o666)  # the mode is the umask's, as with write_json_atomically
    except FileNotFoundError:  # the first write: its folder may not exist yet
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, flags, 0o666)
    with open(handle, "wb") as stream:  # as protocol.save_array writes its arrays
        stream.write(data)
        stream.truncate()
    if not _exchange(temporary, str(path)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rename(temporary, path)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:  # a C library without it
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def _exchange(first, second):
    """Swap two paths atomically; False where either is missing or the file system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    return renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0
