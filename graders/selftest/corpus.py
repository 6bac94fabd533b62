"""The graders' self-test corpus: submissions with known grades, graded and compared.

Each entry of `fixtures/submissions/<name>/` holds some of q1.py..q4.py and an
`expected.yaml` (description, kind valid|mutant|hostile, scores per question, failing:
key -> keyword). A `failing` key is a check (`q2.filter_cv2`, all its cases), one case
(`q2.filter_cv2[blur-uint8]`) or a whole question (`q3`, every check of it); its
keyword (or list of keywords) must appear, case-insensitively, in the feedback of the
failing cases it matches. Grading runs the real graders in a subprocess, exactly as an
instructor would, so the corpus tests the judge end to end.

Git stores no FIFO or device, so an entry may also declare `special_files: {name: kind}`:
the entry is then graded from a temporary copy where each is made, kind `fifo` (a named
pipe: a reader that opens it waits for a writer forever), `symlink-to-dev-zero` (a link
to /dev/zero: a reader never reaches its end) or `symlink-outside` (a link to a folder
outside the submission: the repository's `solutions/`, the reference answers).
"""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from graders import layout, questions
from graders.layout import CORPUS_DIR, PROJECT_ROOT

QUESTIONS = questions.names()
KINDS = ("valid", "mutant", "hostile")
SPECIAL_FILE_KINDS = ("fifo", "symlink-to-dev-zero", "symlink-outside")
OUTSIDE_FOLDER = layout.REFERENCE_SUBMISSION  # what a `symlink-outside` points at
SCORE_TOLERANCE = 0.01
DEFAULT_ENTRY_TIMEOUT = 900.0
INTERRUPT_GRACE_SECONDS = 30.0  # after SIGINT, before SIGKILL
_CASE_KEY = re.compile(r"^q[1-4](\.[A-Za-z_]\w*(\[.+\])?)?$")


class CorpusError(ValueError):
    """An entry whose expected.yaml is malformed."""


class Difference(str):
    """One readable disagreement between a grade and its expectation, with its kind.

    Kinds: "unlisted" (a check failed that is not listed), "unknown" (a listed key
    names nothing graded), "passed" (a listed check did not fail), "keyword" (its
    feedback lacks the keyword), "score" (a question's points are off), "grading"
    (the graders themselves did not finish).
    """

    def __new__(cls, kind, text):
        difference = super().__new__(cls, text)
        difference.kind = kind
        return difference


@dataclass(frozen=True)
class Expectation:
    """What grading an entry must give."""

    description: str
    kind: str
    scores: dict  # question -> points
    failing: dict  # key -> tuple of keywords
    special_files: dict = field(default_factory=dict)  # file name -> one of SPECIAL_FILE_KINDS


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    path: Path
    expected: Expectation


@dataclass
class GradeRun:
    """One entry graded by a pytest subprocess."""

    entry: CorpusEntry
    results: dict = None  # the Gradescope results.json, None if grading broke down
    returncode: int = None
    seconds: float = 0.0  # wall time
    cpu_seconds: float = 0.0  # pytest and its worker together
    log: str = ""
    differences: list = field(default_factory=list)


def _keywords(path, key, value):
    keywords = [value] if isinstance(value, str) else value
    if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise CorpusError(f"{path}: failing[{key!r}] must be a keyword or a list of keywords, got {value!r}")
    return tuple(keywords)


def parse_expectation(data, path="expected.yaml"):
    """Validate an expected.yaml mapping and return its Expectation."""
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - {"description", "kind", "scores", "failing", "special_files"}
    if unknown:
        raise CorpusError(f"{path}: unknown keys {sorted(unknown)}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise CorpusError(f"{path}: description must be a non-empty string, got {description!r}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise CorpusError(f"{path}: kind must be one of {KINDS}, got kind={kind!r}")
    scores = data.get("scores")
    if not isinstance(scores, dict) or set(scores) != set(QUESTIONS):
        raise CorpusError(f"{path}: scores must give exactly {list(QUESTIONS)}, got scores={scores!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in scores.values()):
        raise CorpusError(f"{path}: scores must be non-negative numbers, got scores={scores!r}")
    failing = data.get("failing") or {}
    if not isinstance(failing, dict):
        raise CorpusError(f"{path}: failing must map check -> keyword, got failing={failing!r}")
    for key in failing:
        if not isinstance(key, str) or not _CASE_KEY.match(key):
            raise CorpusError(f"{path}: failing key {key!r} is not a question, check or case name like 'q2.filter_cv2[blur]'")
    if kind == "valid" and failing:
        raise CorpusError(f"{path}: a valid entry cannot list failing checks, got failing={failing!r}")
    return Expectation(
        description=description.strip(),
        kind=kind,
        scores={q: float(scores[q]) for q in QUESTIONS},
        failing={key: _keywords(path, key, value) for key, value in failing.items()},
        special_files=_special_files(path, data.get("special_files") or {}),
    )


def _special_files(path, special):
    if not isinstance(special, dict):
        raise CorpusError(f"{path}: special_files must map file name -> kind, got special_files={special!r}")
    for name, kind in special.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise CorpusError(f"{path}: special file name {name!r} is not a plain file name")
        if kind not in SPECIAL_FILE_KINDS:
            raise CorpusError(f"{path}: special_files[{name!r}] must be one of {SPECIAL_FILE_KINDS}, got {kind!r}")
    return dict(special)


def make_special_file(path, kind):
    """Create the special file `kind` (one of SPECIAL_FILE_KINDS) at `path`."""
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero" if kind == "symlink-to-dev-zero" else OUTSIDE_FOLDER, path)


@contextlib.contextmanager
def submission_folder(entry):
    """The folder to grade: the entry's own, or a temporary copy holding its special files too."""
    if not entry.expected.special_files:
        yield entry.path
        return
    with tempfile.TemporaryDirectory(prefix="hw9-corpus-") as parent:
        folder = Path(parent) / entry.name
        shutil.copytree(entry.path, folder, symlinks=True)
        for name, kind in entry.expected.special_files.items():
            make_special_file(folder / name, kind)
        yield folder


def load_entry(path):
    """The corpus entry in folder `path`."""
    path = Path(path)
    expected_file = path / "expected.yaml"
    if not expected_file.is_file():
        raise CorpusError(f"{path}: no expected.yaml")
    try:
        data = yaml.safe_load(expected_file.read_text())
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


def _question(case_name):
    return case_name.split(".", 1)[0]


def _check(case_name):
    return case_name.split("[", 1)[0]


def _matches(key, case_name):
    if "." not in key:
        return _question(case_name) == key
    return key == case_name if "[" in key else key == _check(case_name)


def _excerpt(text, limit=300):
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit] + " ..."


def _lost_points(test):
    return test.get("status") != "passed" or test.get("score", 0) < test.get("max_score", 0) - 1e-9


def compare(results, expected, absent_questions=()):
    """Readable differences between a Gradescope results dict and an Expectation.

    Failures of `absent_questions` (the entry has no module for them) need no listing:
    they are the "missing" failures every partial entry has, and their scores are checked.
    """
    tests = results.get("tests", [])
    failed = {test["name"]: test.get("output", "") for test in tests if _lost_points(test)}
    differences = []
    for name, output in failed.items():
        if _question(name) not in absent_questions and not any(_matches(key, name) for key in expected.failing):
            differences.append(Difference("unlisted", f"{name} failed but expected.yaml does not list it: {_excerpt(output)}"))
    for key, keywords in expected.failing.items():
        matched = [test["name"] for test in tests if _matches(key, test["name"])]
        if not matched:
            differences.append(Difference("unknown", f"{key} is listed as failing but no graded check or case has that name"))
            continue
        outputs = [failed[name] for name in matched if name in failed]
        if not outputs:
            differences.append(Difference("passed", f"{key} is listed as failing ({', '.join(map(repr, keywords))}) but all {len(matched)} of its cases passed"))
            continue
        feedback = "\n".join(outputs).lower()
        for keyword in keywords:
            if keyword.lower() not in feedback:
                differences.append(Difference("keyword", f"{key}: keyword {keyword!r} not in the feedback of its failing cases: {_excerpt(outputs[0])}"))
    scores = question_scores(results)
    for question in QUESTIONS:
        got, want = scores.get(question, 0.0), expected.scores[question]
        if abs(got - want) > SCORE_TOLERANCE:
            differences.append(Difference("score", f"{question} scored {got:g}, expected.yaml says {want:g}"))
    return differences


def absent_questions(entry, folder=None):
    """Questions whose module the entry (graded from `folder`, default its own) provides no regular file for."""
    folder = entry.path if folder is None else Path(folder)
    modules = [folder / f"{question}.py" for question in QUESTIONS]
    return tuple(module.stem for module in modules if not module.is_file() or module.is_symlink())


def question_scores(results):
    """Points per question in a results dict."""
    scores = {}
    for test in results.get("tests", []):
        question = _question(test["name"])
        scores[question] = scores.get(question, 0.0) + float(test.get("score", 0.0))
    return scores


def grade_command(entry_path, json_path):
    return [sys.executable, "-m", "pytest", *(str(path) for question in questions.all_questions() for path in question.check_files()), "--submission", str(entry_path), "--grade-json", str(json_path), "-q", "-p", "no:cacheprovider"]


def _environment(threads=None):
    """The grading subprocess's environment (its worker inherits it).

    With several gradings at once, each gets `threads` BLAS/TensorFlow threads so that
    they share the cores instead of oversubscribing them.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            env[name] = str(threads)
    return env


def _run_pytest(command, timeout, threads=None):
    """Run a grading command: (exit code, output, timed out, CPU seconds of it and its worker).

    On timeout it is interrupted first (pytest then tears down and stops its worker),
    killed if that does not end it. wait4 gives the CPU time of the whole process tree.
    """
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=_environment(threads), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stdout.read(1 << 16), b"")), daemon=True)
    reader.start()
    deadline, timed_out, interrupted_at = time.monotonic() + timeout, False, None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if now > deadline and interrupted_at is None:
            timed_out, interrupted_at = True, now
            process.send_signal(signal.SIGINT)  # KeyboardInterrupt: fixtures tear down, the worker is killed
        elif interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE_SECONDS:
            process.kill()
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    process.stdout.close()
    output = b"".join(chunks).decode(errors="replace")
    return process.returncode, output, timed_out, usage.ru_utime + usage.ru_stime


def grade_entry(entry, json_path, timeout=DEFAULT_ENTRY_TIMEOUT, threads=None):
    """Grade one entry with the real graders in a pytest subprocess; compare with its expectation."""
    json_path = Path(json_path)
    json_path.unlink(missing_ok=True)
    run = GradeRun(entry=entry)
    started = time.monotonic()
    with submission_folder(entry) as folder:
        run.returncode, output, timed_out, run.cpu_seconds = _run_pytest(grade_command(folder, json_path), timeout, threads)
        absent = absent_questions(entry, folder)
    run.seconds = time.monotonic() - started
    run.log = output[-4000:]
    if timed_out:
        run.differences.append(Difference("grading", f"grading did not finish within {timeout:g} s: {_excerpt(run.log[-1500:], 1500)}"))
    elif run.returncode not in (0, 1) or not json_path.is_file():
        run.differences.append(Difference("grading", f"grading broke down (pytest exit code {run.returncode}): {_excerpt(run.log[-1500:], 1500)}"))
    else:
        run.results = json.loads(json_path.read_text())
        run.differences.extend(compare(run.results, entry.expected, absent))
    return run


def _cost_estimate(entry):
    """Rough relative grading time, to start the longest entries first."""
    weights = {"q1.py": 1, "q2.py": 3, "q3.py": 6, "q4.py": 1}
    cost = sum(weight for name, weight in weights.items() if (entry.path / name).is_file())
    return cost + (10 if entry.expected.kind == "hostile" else 0)


def default_jobs():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def grade_all(entries, output_dir, jobs=None, timeout=DEFAULT_ENTRY_TIMEOUT):
    """Grade entries concurrently (jobs subprocesses at a time); return (runs by name, wall seconds)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(entries, key=_cost_estimate, reverse=True)
    jobs = jobs or default_jobs()
    threads = max(1, default_jobs() // jobs)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {entry.name: pool.submit(grade_entry, entry, output_dir / f"{entry.name}.json", timeout, threads) for entry in ordered}
        runs = {name: future.result() for name, future in futures.items()}
    return dict(sorted(runs.items())), time.monotonic() - started


def summary_line(runs):
    """`corpus: N valid all 100, M mutants all caught, K named correctly, H hostile all contained`.

    A mutant is caught when grading finished, every check it lists failed and its scores
    match; it is named correctly when every listed keyword appeared in the feedback.
    """
    runs = list(runs)
    by_kind = {kind: [run for run in runs if run.entry.expected.kind == kind] for kind in KINDS}
    valid_full = sum(1 for run in by_kind["valid"] if run.results and not run.differences and abs(run.results.get("score", 0) - 100) <= SCORE_TOLERANCE)
    caught = sum(1 for run in by_kind["mutant"] if run.results and not _kinds(run) & {"unknown", "passed", "score"})
    named = sum(1 for run in by_kind["mutant"] if run.results and not _kinds(run) & {"unknown", "passed", "keyword"})
    contained = sum(1 for run in by_kind["hostile"] if run.results and not run.differences)
    parts = [
        _count(len(by_kind["valid"]), valid_full, "valid", "all 100", "at 100"),
        _count(len(by_kind["mutant"]), caught, "mutants", "all caught", "caught"),
        f"{named} named correctly",
        _count(len(by_kind["hostile"]), contained, "hostile", "all contained", "contained"),
    ]
    return "corpus: " + ", ".join(parts)


def _kinds(run):
    return {difference.kind for difference in run.differences}


def _count(total, good, noun, all_good, some_good):
    return f"{total} {noun} {all_good}" if good == total else f"{total} {noun}, only {good} {some_good}"
