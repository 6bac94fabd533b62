"""The graders' self-test corpus and the comparison behind it.

Tests marked `corpus` grade every entry of fixtures/submissions with hw9-grade (one run,
the entries as a class, several at a time) and fail on any difference from its
expected.yaml, on a file of the judge's that changed, a hostile process left running or
judges that were not forked from a preloaded process. The unmarked tests check the
comparison on hand-made results, the special files and how a record becomes a verdict.
"""
import contextlib
import hashlib
import json
import os
import pwd
import re
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from graders.batch import store
from graders.batch.inputs import find_submissions
from graders.layout import CORPUS_DIR, PROJECT_ROOT
from graders.selftest import expectations, run
from graders.selftest.compare import Difference, DifferenceKind, compare

ENTRY_NAMES = [path.name for path in expectations.entry_folders()]
HOSTILE_MARK = "HOSTILE_WAS_HERE"  # the file hostile-write-outside tries to create everywhere
SHARED_MEMORY = Path("/dev/shm")  # a tmpfs every process shares: a file left there outlives the grading
# What hostile entries aim links and writes at: the rubric, the reference, the harness, every entry.
JUDGE_FILES = [PROJECT_ROOT / "fixtures" / "rubric.yaml", PROJECT_ROOT / "graders" / "judge" / "verdict.py"]
JUDGE_FILES += sorted((PROJECT_ROOT / "solutions").glob("q*.py")) + sorted(CORPUS_DIR.glob("*/*"))
UNLISTED, UNKNOWN, PASSED, KEYWORD, SCORE, GRADING = (
    DifferenceKind.UNLISTED, DifferenceKind.UNKNOWN, DifferenceKind.PASSED, DifferenceKind.KEYWORD, DifferenceKind.SCORE, DifferenceKind.GRADING,
)


def _digests(paths):
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths if path.is_file() and not path.is_symlink()}


JUDGE_DIGESTS = _digests(JUDGE_FILES)  # taken at collection, before any grading


@pytest.mark.corpus
@pytest.mark.parametrize("entry_name", ENTRY_NAMES)
def test_entry(graded_corpus, entry_name):
    if entry_name in graded_corpus.errors:
        pytest.fail(str(graded_corpus.errors[entry_name]), pytrace=False)
    graded = graded_corpus.runs[entry_name]
    if graded.differences:
        lines = [f"{entry_name} ({graded.entry.expected.kind}): {graded.entry.expected.description}"]
        lines += [f"  - {difference}" for difference in graded.differences]
        if graded.results is None:
            lines.append(f"grading output (tail):\n{graded.log[-2000:]}")
        pytest.fail("\n".join(lines), pytrace=False)


@pytest.mark.corpus
def test_no_valid_entry_lost_a_point(graded_corpus):
    """The false-negative audit: correct work, in every style the corpus holds, keeps every point."""
    audit = run.false_negative_audit(graded_corpus.runs.values())
    assert audit.entries >= 25 and len(audit.styles) >= 40, audit
    assert audit.points_lost == 0 and not audit.not_graded, audit.line()


@pytest.mark.corpus
def test_the_corpus_was_graded_by_forked_preloaded_judges(graded_corpus):
    assert graded_corpus.graded.preloaded, f"hw9-grade did not fork its judges:\n{graded_corpus.graded.output}"


@pytest.mark.corpus
def test_hostile_writes_stayed_in_the_worker(graded_corpus):
    root = PROJECT_ROOT
    places = [root, root / "fixtures", root / "graders", root / "solutions", Path(tempfile.gettempdir()), SHARED_MEMORY]
    places += [CORPUS_DIR, *expectations.entry_folders(), Path(pwd.getpwuid(os.getuid()).pw_dir), Path.home()]
    found = [str(place / HOSTILE_MARK) for place in places if (place / HOSTILE_MARK).exists()]
    # The class's grades, where hostile-write-others looks for "students" and "gradebook".
    out = graded_corpus.graded.out
    found += [str(path) for path in out.rglob(HOSTILE_MARK)]
    found += [str(out / "gradebook.csv")] if HOSTILE_MARK in (out / "gradebook.csv").read_text() else []
    assert not found, f"a submission wrote outside its work dir: {found} (delete them after fixing the sandbox)"


@pytest.mark.corpus
def test_hostile_entries_changed_none_of_the_judges_files(graded_corpus):
    changed = [path for path, digest in JUDGE_DIGESTS.items() if _digests([Path(path)]).get(path) != digest]
    assert not changed, f"files changed or removed while the corpus was graded: {changed}"


def _markers():
    """The MARKER each daemon-starting entry puts in its processes' command lines."""
    found = re.findall(r'^MARKER = "(.+)"$', "\n".join(path.read_text() for path in sorted(CORPUS_DIR.glob("*/q*.py"))), re.M)
    assert found, "no corpus entry starts a marked daemon any more"
    return found


def _marked_processes(markers):
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            command_line = Path(f"/proc/{entry}/cmdline").read_bytes()  # empty for a zombie
        except OSError:
            continue
        found.update({int(entry): marker for marker in markers if marker.encode() in command_line})
    return found


@pytest.mark.corpus
def test_no_hostile_process_outlived_its_grading(graded_corpus):
    markers, deadline = _markers(), time.monotonic() + 10  # a bound on how long a killed process takes to go
    while (left := _marked_processes(markers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # they must not outlive this test either
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of hostile entries still running after grading: {left}"


# --- the comparison, on hand-made results -------------------------------------------------

def _test(name, score, max_score, output=""):
    status = "passed" if score >= max_score else "failed"
    return {"name": name, "score": score, "max_score": max_score, "status": status, "output": output}


def _results(*tests):
    return {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests), "tests": list(tests)}


def _expect(scores, failing=None, kind="mutant"):
    data = {"description": "hand-made", "kind": kind, "scores": dict(zip(expectations.QUESTIONS, scores)), "failing": failing or {}}
    if kind == "valid":
        data["styles"] = ["hand-made"]
    return expectations.parse_expectation(data)


FLIPPED = "Checked: filter_cv2(...)\nLikely mistake: kernel FLIPPED: convolution instead of cross-correlation"
RESULTS = _results(
    _test("q1.pool2d[max]", 1.0, 1.0),
    _test("q2.filter_cv2[blur-uint8]", 1.0, 1.0),
    _test("q2.filter_cv2[sobel_x-uint8]", 0.0, 1.0, FLIPPED),
    _test("q2.filter_cv2[sobel_y-float32]", 0.0, 1.0, FLIPPED),
    _test("q3.search_space[lr]", 2.0, 2.0),
    _test("q4.layer_table[row1-Input]", 0.5, 0.5),
)


def test_matching_expectation_has_no_differences():
    assert compare(RESULTS, _expect((1, 1, 2, 0.5), {"q2.filter_cv2": "flipped"})) == []


@pytest.mark.parametrize("key", ["q2.filter_cv2", "q2", "q2.filter_cv2[sobel_x-uint8], q2.filter_cv2[sobel_y-float32]"])
def test_a_key_can_name_a_check_a_question_or_cases(key):
    failing = {part.strip(): "flipped" for part in key.split(",")}
    assert compare(RESULTS, _expect((1, 1, 2, 0.5), failing)) == []


def test_an_unlisted_failing_case_is_a_difference():
    differences = compare(RESULTS, _expect((1, 1, 2, 0.5), {"q2.filter_cv2[sobel_x-uint8]": "flipped"}))
    assert [d.kind for d in differences] == [UNLISTED]
    assert "q2.filter_cv2[sobel_y-float32] failed but expected.yaml does not list it" in differences[0].text
    assert "FLIPPED" in differences[0].text


def test_a_listed_check_that_passed_is_a_difference():
    failing = {"q2.filter_cv2": "flipped", "q1.pool2d": "stride"}
    differences = compare(RESULTS, _expect((1, 1, 2, 0.5), failing))
    assert [d.kind for d in differences] == [PASSED]
    assert differences[0].text.startswith("q1.pool2d is listed as failing ('stride') but all 1 of its cases passed")


def test_a_listed_name_that_matches_nothing_is_a_difference():
    differences = compare(RESULTS, _expect((1, 1, 2, 0.5), {"q2.filter_cv2": "flipped", "q2.filter_cv": "flipped"}))
    assert [d.kind for d in differences] == [UNKNOWN]


def test_keywords_are_case_insensitive_and_all_required():
    assert compare(RESULTS, _expect((1, 1, 2, 0.5), {"q2.filter_cv2": ["Flipped", "cross-CORRELATION"]})) == []
    differences = compare(RESULTS, _expect((1, 1, 2, 0.5), {"q2.filter_cv2": ["flipped", "saturation"]}))
    assert [d.kind for d in differences] == [KEYWORD]
    assert "keyword 'saturation' not in the feedback" in differences[0].text


@pytest.mark.parametrize(("q2_score", "differs"), [(1.0, False), (1.009, False), (0.989, True), (3.0, True)])
def test_scores_must_match_within_a_hundredth(q2_score, differs):
    differences = compare(RESULTS, _expect((1, q2_score, 2, 0.5), {"q2": "flipped"}))
    assert [d.kind for d in differences] == ([SCORE] if differs else [])


def test_failures_of_an_absent_module_need_no_listing():
    results = _results(_test("q1.pool2d[max]", 1.0, 1.0), _test("q3.search_space[lr]", 0.0, 2.0, "q3.py is missing from the submission"))
    assert [d.kind for d in compare(results, _expect((1, 0, 0, 0)))] == [UNLISTED]
    assert compare(results, _expect((1, 0, 0, 0)), absent_questions=("q3",)) == []


def test_partial_points_count_as_failing():
    results = _results(_test("q1.pool2d[max]", 1.0, 1.0), {**_test("q1.conv_params[conv1d]", 0.5, 1.0, "half"), "status": "passed"})
    assert [d.kind for d in compare(results, _expect((1.5, 0, 0, 0)))] == [UNLISTED]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "broken"}, "kind must be one of"),
        ({"scores": {"q1": 25}}, "scores must give exactly"),
        ({"scores": {"q1": -1, "q2": 0, "q3": 0, "q4": 0}}, "non-negative numbers"),
        ({"description": ""}, "description must be"),
        ({"failing": {"q2.filter_cv2": 1}}, "must be a keyword or a list of keywords"),
        ({"failing": {"filter_cv2": "flipped"}}, "is not a question, check or case name"),
        ({"kind": "valid", "failing": {"q2": "flipped"}}, "a valid entry cannot list failing checks"),
        ({"extra": 1}, "unknown keys ['extra']"),
        ({"special_files": ["q3.py"]}, "special_files must map file name -> kind"),
        ({"special_files": {"q3.py": "device"}}, "special_files['q3.py'] must be one of"),
        ({"special_files": {"../q3.py": "fifo"}}, "is not a plain file name"),
    ],
    ids=[
        "kind", "scores-incomplete", "scores-negative", "description", "keyword-not-text", "key-not-a-check",
        "valid-with-failing", "unknown-key", "special-not-a-mapping", "special-unknown-kind", "special-path",
    ],
)
def test_malformed_expectations_are_rejected_naming_the_problem(change, message):
    data = {"description": "d", "kind": "mutant", "scores": {"q1": 0, "q2": 0, "q3": 0, "q4": 0}, "failing": {}, **change}
    with pytest.raises(expectations.CorpusError, match=message.replace("[", r"\[").replace("]", r"\]")):
        expectations.parse_expectation(data, "entry/expected.yaml")


def test_discover_loads_entries_and_reports_malformed_ones(tmp_path):
    good = tmp_path / "q1-good"
    good.mkdir()
    (good / "expected.yaml").write_text("description: ok\nkind: valid\nscores: {q1: 25, q2: 25, q3: 30, q4: 20}\nfailing: {}\nstyles: [loops]\n")
    (tmp_path / "q1-no-yaml").mkdir()
    (tmp_path / "_scratch").mkdir()
    entries, errors = expectations.discover(tmp_path)
    assert [entry.name for entry in entries] == ["q1-good"]
    assert entries[0].expected.scores == {"q1": 25.0, "q2": 25.0, "q3": 30.0, "q4": 20.0}
    assert [str(error) for error in errors] == [f"{tmp_path / 'q1-no-yaml'}: no expected.yaml"]
    assert expectations.absent_questions(entries[0]) == ("q1", "q2", "q3", "q4")


SPECIAL_ENTRY = """description: special files
kind: hostile
scores: {q1: 25, q2: 0, q3: 0, q4: 0}
special_files: {q3.py: fifo, q_notes.py: symlink-to-dev-zero, reference: symlink-outside}
"""


def _special_entry(tmp_path):
    folder = tmp_path / "hostile-special"
    folder.mkdir()
    for name, text in {"q1.py": "x = 1\n", "expected.yaml": SPECIAL_ENTRY}.items():
        (folder / name).write_text(text)
    return folder


def test_special_files_are_made_in_the_copy_of_the_entry(tmp_path):
    entry = expectations.load_entry(_special_entry(tmp_path))
    folder = expectations.copy_entry(entry, tmp_path / "class" / entry.name)
    assert (folder / "q1.py").read_text() == "x = 1\n"
    assert stat.S_ISFIFO(os.lstat(folder / "q3.py").st_mode)
    assert os.readlink(folder / "q_notes.py") == "/dev/zero"
    assert Path(os.readlink(folder / "reference")) == expectations.OUTSIDE_FOLDER
    assert expectations.absent_questions(entry, folder) == ("q2", "q3", "q4")
    assert sorted(path.name for path in entry.path.iterdir()) == ["expected.yaml", "q1.py"]


def test_each_entry_is_a_student_of_the_class_hw9_grade_is_given(tmp_path):
    plain = tmp_path / "entries" / "q1-plain"
    plain.mkdir(parents=True)
    (plain / "q1.py").write_text("x = 1\n")
    (plain / "expected.yaml").write_text(SPECIAL_ENTRY.replace("special_files", "# special_files"))
    entries = [expectations.load_entry(plain), expectations.load_entry(_special_entry(tmp_path / "entries"))]
    klass = run.class_folder(entries, tmp_path / "class")
    candidates, skipped = find_submissions([klass])
    assert sorted((candidate.student, candidate.source) for candidate in candidates) == sorted((entry.name, klass / entry.name) for entry in entries)
    assert skipped == [] and stat.S_ISFIFO(os.lstat(klass / "hostile-special" / "q3.py").st_mode)


def test_a_special_file_cannot_replace_a_file_of_the_entry(tmp_path):
    folder = _special_entry(tmp_path)
    (folder / "q3.py").write_text("y = 2\n")
    with pytest.raises(expectations.CorpusError, match=r"special_files \['q3.py'\] would replace files of the entry"):
        expectations.load_entry(folder)


def test_a_linked_or_piped_question_file_counts_as_absent(tmp_path):
    (tmp_path / "q1.py").write_text("x = 1\n")
    (tmp_path / "q2.py").symlink_to(tmp_path / "q1.py")
    os.mkfifo(tmp_path / "q3.py")
    entry = expectations.CorpusEntry(name="e", path=tmp_path, expected=_expect((0, 0, 0, 0)))
    assert expectations.absent_questions(entry) == ("q2", "q3", "q4")


def _run(kind, name="entry", differences=(), score=100.0):
    entry = expectations.CorpusEntry(name=name, path=Path(name), expected=_expect((25, 25, 30, 20), kind=kind))
    results = {"score": score, "tests": []}
    return run.GradeRun(entry=entry, results=results, differences=[Difference(difference_kind, difference_kind.value) for difference_kind in differences])


def test_summary_line_counts_each_kind():
    runs = [_run("valid"), _run("valid"), _run("mutant"), _run("mutant", differences=[KEYWORD]), _run("hostile")]
    assert run.summary_line(runs) == "corpus: 2 valid all 100, 2 mutants all caught, 1 named correctly, 1 hostile all contained"


def test_summary_line_says_what_went_wrong():
    runs = [_run("valid", score=99.0, differences=[SCORE]), _run("valid"), _run("mutant", differences=[PASSED]), _run("hostile", differences=[GRADING])]
    assert run.summary_line(runs) == "corpus: 2 valid, only 1 at 100, 1 mutants, only 0 caught, 0 named correctly, 1 hostile, only 0 contained"


# --- from hw9-grade's records to verdicts ------------------------------------------------

def _committed(tmp_path, status, results=None, reason="all checks passed"):
    """A student folder as hw9-grade commits it; its path."""
    layout = store.Layout(tmp_path / "grades")
    staging = layout.new_staging("entry")
    if results is not None:
        (staging / "results.json").write_text(json.dumps(results))
    (staging / "grading.log").write_text("the judge's output\n")
    store.commit(layout, store.Record("entry", status, reason, "s", seconds=3.0, cpu_seconds=2.5), staging)
    return layout.student_dir("entry")


def _entry(tmp_path):
    return expectations.CorpusEntry(name="entry", path=tmp_path, expected=_expect((1, 1, 2, 0.5), {"q2.filter_cv2": "flipped"}))


def test_a_graded_record_is_compared_with_the_expectation(tmp_path):
    graded = run.collect(_entry(tmp_path), _committed(tmp_path, "graded", RESULTS), absent=())
    assert (graded.status, graded.seconds, graded.cpu_seconds, graded.differences) == (store.Status.GRADED, 3.0, 2.5, [])
    assert graded.results == RESULTS and graded.log == "the judge's output\n"
    wrong = {**RESULTS, "tests": RESULTS["tests"][:-1]}
    graded = run.collect(_entry(tmp_path / "other"), _committed(tmp_path / "other", "graded", wrong), absent=())
    assert [difference.kind for difference in graded.differences] == [SCORE]


@pytest.mark.parametrize("status", ["timeout", "crashed", "invalid"])
def test_a_grading_that_did_not_finish_is_a_grading_difference(tmp_path, status):
    folder = _committed(tmp_path, status, RESULTS, reason="grading did not finish within 600 s")
    graded = run.collect(_entry(tmp_path), folder, absent=())
    assert [difference.kind for difference in graded.differences] == [GRADING] and graded.results is None
    assert f"hw9-grade recorded it as {status}: grading did not finish within 600 s" in graded.differences[0].text


def test_an_entry_hw9_grade_left_no_record_of_is_a_grading_difference(tmp_path):
    graded = run.collect(_entry(tmp_path), tmp_path / "students" / "entry", absent=(), hw9_grade_output="hw9-grade: error: out of disk")
    assert [difference.kind for difference in graded.differences] == [GRADING] and graded.status is None
    assert "hw9-grade committed no record of it: hw9-grade: error: out of disk" in graded.differences[0].text


def test_run_to_end_reports_output_exit_code_and_cpu(tmp_path):
    log = tmp_path / "log"
    code, cpu, stopped = run.run_to_end([sys.executable, "-c", "print('graded'); sum(range(10**6)); raise SystemExit(1)"], log, limit=60)
    assert (code, log.read_text().strip(), stopped) == (1, "graded", False)
    assert cpu > 0


def test_run_to_end_stops_a_run_past_its_limit_as_sigterm_stops_hw9_grade(tmp_path):
    script = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: (print('stopped'), sys.exit(130)))\ntime.sleep(60)"
    code, _, stopped = run.run_to_end([sys.executable, "-c", script], tmp_path / "log", limit=2)
    assert (code, (tmp_path / "log").read_text().strip(), stopped) == (130, "stopped", True)


def test_run_to_end_kills_a_run_that_ignores_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "STOP_GRACE_SECONDS", 0.5)
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('stubborn', flush=True)\ntime.sleep(60)"
    code, _, stopped = run.run_to_end([sys.executable, "-c", script], tmp_path / "log", limit=2)
    assert (code, (tmp_path / "log").read_text().strip(), stopped) == (-signal.SIGKILL, "stubborn", True)


def _graded(name, kind, scores, styles=(), results=True):
    data = {"description": name, "kind": kind, "scores": dict(zip(expectations.QUESTIONS, scores)), "failing": {}}
    if styles:
        data["styles"] = list(styles)
    entry = expectations.CorpusEntry(name, Path(name), expectations.parse_expectation(data))
    tests = [_test(f"{question}.check", score, score) for question, score in zip(expectations.QUESTIONS, scores)]
    return run.GradeRun(entry, results=_results(*tests) if results else None)


def test_the_audit_counts_the_points_valid_entries_lost_and_their_styles():
    runs = [
        _graded("a", "valid", (25, 25, 30, 20), ["loops", "float32"]),
        _graded("b", "valid", (25, 24.5, 30, 20), ["loops", "keras.ops"]),
        _graded("c", "valid", (25, 25, 30, 20), ["lists"], results=False),
        _graded("m", "mutant", (0, 0, 0, 0)),
    ]
    audit = run.false_negative_audit(runs)
    assert (audit.entries, audit.styles, audit.points_lost, audit.not_graded) == (3, ("float32", "keras.ops", "lists", "loops"), 0.5, ("c",))
    assert audit.line() == "false-negative audit: 3 valid entries, 4 styles covered, 0.5 points lost by valid entries, 1 not graded (c)"


@pytest.mark.parametrize(
    "kind, styles, words",
    [("valid", None, "a valid entry lists its styles"), ("valid", [""], "a valid entry lists its styles"), ("mutant", ["loops"], "only a valid entry lists styles")],
    ids=["valid-without", "valid-blank", "mutant-with"],
)
def test_styles_belong_to_valid_entries_only(kind, styles, words):
    data = {"description": "d", "kind": kind, "scores": dict.fromkeys(expectations.QUESTIONS, 0), "failing": {}}
    if styles is not None:
        data["styles"] = styles
    with pytest.raises(expectations.CorpusError, match=words):
        expectations.parse_expectation(data)
