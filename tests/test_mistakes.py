"""The mistake catalogue: stable prefixed ids, the same sentences as before, and the class report grouped by id."""
import importlib
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from graders import questions
from graders.batch import statistics
from graders.batch.html_report import class_page
from graders.batch.html_student import question_section
from graders.judge import mistakes as generic, scoring
from graders.judge.mistakes import Catalogue, together
from graders.judge.report import GradeReport
from graders.judge.rubric import RubricItem
from graders.judge.verdict import fail
from graders.layout import PACKAGE_DIR
from graders.oracles import conv
from graders.questions.q1 import mistakes as q1
from graders.questions.q2 import mistakes as q2
from graders.questions.q3 import mistakes as q3
from graders.questions.q4 import mistakes as q4

QUESTION_NAMES = [question.name for question in questions.all_questions()]


def _catalogue(name):
    return importlib.import_module(f"graders.questions.{name}.mistakes").CATALOGUE


# ---- the catalogue ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", QUESTION_NAMES)
def test_question_ids_start_with_the_question_name(name):
    ids = [mistake.id for mistake in _catalogue(name)]
    assert ids and all(mistake_id.startswith(f"{name}.") and mistake_id != f"{name}." for mistake_id in ids), ids


def _named_constants(pattern):
    """(file, constant) for every `pattern` reference (`CATALOGUE.X`, `generic.X`) in the graders' code."""
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for constant in re.findall(pattern + r"\.([A-Z][A-Z0-9_]*)\b", path.read_text(encoding="utf-8")):
            yield path, constant


def test_every_constant_the_code_names_is_in_its_catalogue():
    named = 0
    for path, constant in _named_constants(r"\bCATALOGUE"):
        if not path.is_relative_to(PACKAGE_DIR / "questions"):
            continue  # the catalogue's own docstring
        question = path.relative_to(PACKAGE_DIR / "questions").parts[0]
        assert constant in _catalogue(question).constants, f"{path.name}: CATALOGUE.{constant} is not in {question}/mistakes.yaml"
        named += 1
    for path, constant in _named_constants(r"\b(?:generic|generic_mistakes)"):
        assert constant == "GENERIC" or constant in generic.GENERIC.constants, f"{path.name}: generic.{constant} is not in judge/mistakes.yaml"
        named += 1
    assert named > 100


@pytest.mark.parametrize("name", QUESTION_NAMES)
def test_a_question_module_reads_its_entries_as_names_too(name):
    module = importlib.import_module(f"graders.questions.{name}.mistakes")
    for constant, mistake_id in module.CATALOGUE.constants.items():
        assert getattr(module, constant) is module.CATALOGUE.entries[mistake_id]
    with pytest.raises(AttributeError, match=f"{name} mistake catalogue has no 'NOT_A_MISTAKE'"):
        getattr(module, "NOT_A_MISTAKE")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("- a list\n", "a mapping of CONSTANT"),
        ("SATURATION: {id: q2.saturation}\n", "must map id, title"),
        ("SATURATION: {id: q2.saturation, title: t, advice: a}\n", "must map id, title"),
        ("saturation: {id: q2.saturation, title: t}\n", "constant must be a new UPPER_CASE name"),
        ("A: {id: q2.a, title: t}\nB: {id: q2.a, title: t}\n", "declared twice"),
        ("A: {id: q3.a, title: t}\n", "is not '<q2>.<name>'"),
    ],
    ids=["not-a-mapping", "no-title", "unknown-key", "lower-case-constant", "id-twice", "foreign-id"],
)
def test_a_malformed_catalogue_file_is_refused_naming_the_problem(tmp_path, text, problem):
    path = tmp_path / "mistakes.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(problem)):
        Catalogue.load(path, "q2")


def test_generic_ids_name_the_call_or_the_return_value():
    assert all(mistake.id.split(".")[0] in ("call", "return") for mistake in generic.GENERIC)


def test_ids_are_unique_over_every_catalogue():
    ids = [mistake.id for catalogue in [generic.GENERIC, *map(_catalogue, QUESTION_NAMES)] for mistake in catalogue]
    assert len(ids) == len(set(ids)), sorted(mistake_id for mistake_id in ids if ids.count(mistake_id) > 1)


@pytest.mark.parametrize("bad_id", ["q2.saturation", "q3.fine", "q2", "q2.a.b", "q2."], ids=["twice", "other-question", "no-name", "two-dots", "empty-name"])
def test_a_catalogue_refuses_repeated_and_foreign_ids(bad_id):
    catalogue = Catalogue("q2")
    catalogue.add("q2.saturation", "uint8 saturation")
    with pytest.raises(ValueError, match="mistake id"):
        catalogue.add(bad_id, "a title")


# ---- the same sentences as before ------------------------------------------------------------

GOLDEN = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]])


def _conv(width):
    return {"class_name": "Conv2D", "config": {"filters": width, "padding": "same", "kernel_size": [3, 3], "activation": "relu"}}


def _saturated_sobel():
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    kernel = q2.contract_kernel("sobel_x")
    return q2.filter_diagnosis(image, kernel, 1e-5, 1e-3)(q2.saturated(conv.filter2d(image, kernel), image.dtype).astype(np.uint8))


def _flipped_and_wrapped():
    image = np.arange(60, dtype=np.uint8).reshape(5, 4, 3) * 4
    kernel = np.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5], [1.0, 0.25, -2.0]])
    got = q2.wrapped(q2.flipped_kernel(image, kernel), image.dtype)
    return q2.filter_diagnosis(image, kernel, 1e-5, 1e-3)(got)


def _lc_shared_rows():
    rows = q4.Formulas(lc_shared=True).layer_table()
    return q4.diagnose_rows(rows, q4.Formulas().layer_table(), "params")


# The diagnoses whose sentences students read before the catalogue; what they say is data (KNOWN).
DIAGNOSE = {
    "q2-divisor-16": lambda: q2.diagnose_kernel(np.ones((3, 3)) / 9, "blur", 16),
    "q2-saturation": _saturated_sobel,
    "q2-flipped-and-wrapped": _flipped_and_wrapped,
    "q1-minmax-swapped": lambda: q1.diagnose_pool2d(conv.pool2d(GOLDEN, 2, None, "min"), GOLDEN, 2, None, "max"),
    "q1-field-no-plus-one": lambda: q1.diagnose_receptive_field(6, 3, 3),
    "q3-filters-not-doubling": lambda: q3.architecture_mistake({"conv_layers": 2, "filters": 16}, [_conv(16)] * 4),
    "q4-lc-shared-row": _lc_shared_rows,
}
KNOWN = yaml.safe_load((Path(__file__).parent / "data" / "known_diagnoses.yaml").read_text(encoding="utf-8"))


def test_every_known_diagnosis_is_made():
    assert set(DIAGNOSE) == set(KNOWN)


@pytest.mark.parametrize("case", list(DIAGNOSE))
def test_a_finding_renders_the_sentence_students_read_before(case):
    diagnosis = DIAGNOSE[case]()
    assert diagnosis.text() == KNOWN[case]["sentence"]
    assert [finding.mistake.id for finding in diagnosis.findings()] == KNOWN[case]["ids"]
    assert [finding.params for finding in diagnosis.findings()] == KNOWN[case]["params"]


def test_the_numbers_are_params_not_part_of_the_title():
    finding = q2.diagnose_kernel(np.ones((3, 3)) / 9, "blur", 16.5)
    assert finding.data() == {"id": "q2.divisor-ignored", "title": "blur divisor argument ignored", "params": {"divisor": 16.5}}
    assert "16.5" in finding.text() and "16.5" not in finding.mistake.title


# ---- from a failed check to the class report -------------------------------------------------

def _results(*cases):
    """results.json of a grading whose failed cases raised `fail(..., diagnosis)`: (case name, diagnosis, got) each."""
    state = SimpleNamespace(outcomes=[], cases={}, internal_errors=[])
    for name, diagnosis, got in cases:
        with pytest.raises(pytest.fail.Exception) as caught:
            fail(f"a call of {name}", "the right answer", got, diagnosis)
        report = SimpleNamespace(passed=False, failed=True, skipped=False, longreprtext=str(caught.value), user_properties=[], duration=0.1)
        scoring.record(state, name, RubricItem(name.split("[")[0], 1.0), report, excinfo=caught)
    return GradeReport(submission="s", outcomes=state.outcomes).gradescope()


def _saturated():
    return {
        "ann": _results(("q2.filter_cv2[blur]", q2.SATURATION(), "a clipped array")),
        "ben": _results(("q2.filter_keras[sobel_x]", together(q2.FLIPPED(), q2.SATURATION()), "another array")),
        "cem": _results(("q2.golden_patch[filter_cv2-laplacian]", together(q2.SATURATION(), q2.UINT8_OUTPUT(), joiner="; "), "59")),
    }


def _divisors():
    return {
        "ann": _results(("q2.kernel_divisor[16]", q2.DIVISOR_IGNORED(divisor=16), "ones / 9")),
        "ben": _results(("q2.kernel_divisor[random]", q2.DIVISOR_IGNORED(divisor=16.5), "ones / 9")),
    }


def test_the_judge_writes_each_mistake_into_its_test_entry():
    [test] = _saturated()["ben"]["tests"]
    assert test["extra_data"] == {
        "mistake": {"id": "q2.kernel-flipped", "title": "kernel flipped (convolution)", "params": {}},
        "also": [{"id": "q2.saturation", "title": "uint8 saturation", "params": {}}],
    }
    assert "Likely mistake: kernel flipped: convolution" in test["output"]


def test_two_wordings_of_one_mistake_are_one_row():
    saturated = _saturated()
    outputs = {student: results["tests"][0]["output"] for student, results in saturated.items()}
    assert len(set(outputs.values())) == 3
    rows = {mistake.id: mistake for mistake in statistics.common_mistakes(saturated)}
    assert rows["q2.saturation"].students == ["ann", "ben", "cem"] and rows["q2.saturation"].title == "uint8 saturation"
    assert rows["q2.kernel-flipped"].students == ["ben"] and rows["q2.uint8-output"].students == ["cem"]
    assert sorted(rows["q2.saturation"].checks) == ["q2.filter_cv2", "q2.filter_keras", "q2.golden_patch"]


def test_divisor_16_and_16_5_are_one_row_with_both_params_shown():
    divisors = _divisors()
    [row] = statistics.common_mistakes(divisors)
    assert (row.id, row.students, row.params) == ("q2.divisor-ignored", ["ann", "ben"], ["divisor 16", "divisor 16.5"])
    records = {student: SimpleNamespace(status="graded", scores={"q2": 0.0}, max_scores={"q2": 1.0}, total=0.0, reason="", seconds=1.0, sandbox="")
               for student in divisors}
    mistakes_table = class_page(records, divisors).split('id="mistakes"')[1]
    assert mistakes_table.count("<tr>") == 2  # the header and one row
    assert "blur divisor argument ignored" in mistakes_table and "divisor 16; divisor 16.5" in mistakes_table


def test_the_report_reads_ids_not_the_feedback_text():
    text_only = {"ann": {"tests": [{"name": "q2.kernel[blur]", "score": 0, "max_score": 1, "status": "failed",
                                    "output": "Checked: x\nLikely mistake: kernel flipped"}]}}
    assert statistics.common_mistakes(text_only) == []


@pytest.mark.parametrize(
    "extra_data",
    [None, "q2.saturation", {"mistake": "q2.saturation"}, {"mistake": {"id": 7, "title": "t"}}, {"mistake": {"id": "", "title": "t"}},
     {"mistake": {"id": "x" * 500, "title": "t"}}, {"mistake": None, "also": "q2.rounded"}],
    ids=["none", "a-string", "mistake-a-string", "id-a-number", "id-empty", "id-too-long", "also-a-string"],
)
def test_malformed_extra_data_names_no_mistake(extra_data):
    test = {"name": "q2.kernel[blur]", "score": 0, "max_score": 1, "status": "failed", "output": "", "extra_data": extra_data}
    assert statistics.common_mistakes({"ann": {"tests": [test]}}) == []


def test_odd_params_and_titles_are_read_as_far_as_they_go():
    test = {"name": "q2.kernel[blur]", "score": 0, "max_score": 1, "status": "failed", "output": "",
            "extra_data": {"mistake": {"id": "q2.divisor-ignored", "title": ["not text"], "params": ["not", "a", "dict"]}}}
    [row] = statistics.common_mistakes({"ann": {"tests": [test]}})
    assert (row.id, row.title, row.params) == ("q2.divisor-ignored", "q2.divisor-ignored", [])


# ---- the student's page ----------------------------------------------------------------------

def test_student_page_groups_cases_by_id_with_their_params():
    divisors = _divisors()
    tests = [*divisors["ann"]["tests"], *divisors["ben"]["tests"]]
    record = SimpleNamespace(scores={"q2": 0.0}, max_scores={"q2": 2.0})
    html = question_section("q2", tests, record)
    assert html.count('class="check"') == 1 and html.count('class="mistake"') == 1
    assert "q2.divisor-ignored" in html and "divisor 16; divisor 16.5" in html
    assert "q2.kernel_divisor[16], q2.kernel_divisor[random]" in html and "1 more case with the same mistake" in html


def test_student_page_escapes_params():
    tests = _results(("q2.kernel[<b>]", q2.KERNEL_TRANSPOSED(name="<b>", kernel=[[1]]), "x"))["tests"]
    html = question_section("q2", tests, SimpleNamespace(scores={"q2": 0.0}, max_scores={"q2": 1.0}))
    assert "<b>" not in html.replace("<b>kernel(name) transposed</b>", "") and "name &lt;b&gt;" in html


def test_a_changed_catalogue_changes_the_grade_fingerprint(tmp_path):
    """hw9-grade regrades when the sentences students read change, as when a check's code does."""
    from graders.batch.fingerprint import grader_fingerprint

    catalogue = tmp_path / "graders" / "questions" / "q2" / "mistakes.yaml"
    catalogue.parent.mkdir(parents=True)
    catalogue.write_text("SATURATION: {id: q2.saturation, title: uint8 saturation}\n")
    before = grader_fingerprint({}, root=tmp_path)
    catalogue.write_text("SATURATION: {id: q2.saturation, title: uint8 saturation (clipped)}\n")
    assert grader_fingerprint({}, root=tmp_path) != before
