"""Gradescope: results.json against the specification's schema, and the autograder zip end to end (slow)."""
import copy
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest

from graders import layout
from graders.deploy import grade, gradescope, results_schema, tables
from graders.judge.jail import Level, SandboxInfo
from graders.judge.report import CheckOutcome, GradeReport

from tests.deploy_helpers import corpus_differences, withheld_rubric

VALIDATOR = jsonschema.Draft7Validator(results_schema.RESULTS)


def plugin_results():
    """results.json as graders/judge/report.py writes it: a passed visible case, a failed hidden one."""
    report = GradeReport(submission="s", sandbox=SandboxInfo(Level.LANDLOCK, "landlock: no namespaces (refused)"))
    report.outcomes = [
        CheckOutcome("q1.pool2d_golden[max]", "q1", 1.0, 1.0, "passed", "visible"),
        CheckOutcome("q1.pool2d[max-uint8]", "q1", 1.0, 0.0, "failed", "hidden", "Checked: pool2d\nLikely mistake: swapped",
                     mistakes=[{"id": "q1.minmax-swapped", "title": "min and max pooling swapped", "params": {}}]),
        CheckOutcome("q4.layer_table[row1-Input]", "q4", 2.0, 2.0, "passed", "after_due_date"),
    ]
    return report.gradescope()


def both_errors(results):
    """(our validator's verdict, jsonschema's): they must agree."""
    return bool(results_schema.schema_errors(results)), not VALIDATOR.is_valid(results)


def test_the_schema_is_a_valid_draft_7_schema():
    jsonschema.Draft7Validator.check_schema(results_schema.RESULTS)


def test_the_plugins_results_validate_and_so_does_what_run_autograder_adds():
    results = plugin_results()
    assert results_schema.validate(results) == [] and VALIDATOR.is_valid(results)
    graded = grade.GradeRun(returncode=1, results=results, notes=["graded the question files in hw9/"])
    decorated = gradescope.decorate(results, graded, 3.5)
    assert results_schema.validate(decorated) == [] and VALIDATOR.is_valid(decorated)
    assert decorated["output_format"] == "text" and decorated["execution_time"] == 3.5
    output = decorated["output"]
    assert "Note: graded the question files in hw9/" in output and "Sandbox: landlock" in output
    # the students' table counts the visible case only and says what it leaves out
    students_table = output.split("Not in this table")[0].splitlines()
    assert ["q1", "1/1", "1/1"] in [line.split() for line in students_table] and not any(line.startswith("q4") for line in students_table)
    assert "1 check case worth 1 points, hidden (never shown)" in output
    assert "1 check case worth 2 points, shown after the due date" in output
    assert decorated["extra_data"]["hw9"]["sandbox"]["level"] == "landlock"


@pytest.mark.parametrize("breakage", [
    lambda r: r.pop("score") and r.pop("tests"),
    lambda r: r.update(visibility="sometimes"),
    lambda r: r["tests"][0].update(status="error"),
    lambda r: r["tests"][0].update(score="1"),
    lambda r: r["tests"][0].update(bogus=1),
    lambda r: r.update(output_format="latex"),
    lambda r: r.update(leaderboard=[{"name": "speed"}]),
    lambda r: r.update(score=True),
])
def test_malformed_results_are_refused_by_both_validators(breakage):
    results = copy.deepcopy(plugin_results())
    breakage(results)
    assert both_errors(results) == (True, True)


def test_scores_must_add_up_and_stay_within_their_maxima():
    results = copy.deepcopy(plugin_results())
    results["score"] = 99
    assert any("not the sum" in error for error in results_schema.validate(results))
    results = copy.deepcopy(plugin_results())
    results["tests"][0]["score"] = 5
    results["score"] = 7
    assert any("outside 0..1" in error for error in results_schema.validate(results))


def test_a_failure_says_why_and_validates():
    results = gradescope.failure_results("the submission could not be read: x.zip is not a readable zip file")
    assert results_schema.validate(results) == [] and VALIDATOR.is_valid(results)
    assert results["score"] == 0 and "Not graded: the submission could not be read" in results["output"]


def test_run_autograder_writes_results_for_an_unreadable_submission_without_grading(tmp_path):
    root = tmp_path / "autograder"
    bundle = root / "source" / gradescope.BUNDLE_DIR
    bundle.mkdir(parents=True)
    from graders.deploy import bundles

    bundles.write_settings(bundle, layout.DEFAULT_RUBRIC, 11)
    (root / "submission").mkdir()
    (root / "submission" / "hw9.zip").write_bytes(b"not a zip")
    with open(tmp_path / "stdout", "w") as out:
        assert gradescope.run_autograder(root, bundle, out) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results_schema.validate(results) == []
    assert results["score"] == 0 and "hw9.zip" in results["output"] and "not a readable zip" in results["output"]


def test_tables_split_what_students_see_from_what_they_do_not():
    tests = plugin_results()["tests"]
    assert tables.table_lines(tests)[-1].split() == ["total", "3/4"]
    assert tables.student_table_lines(tests)[1].split() == ["q1", "1/1", "1/1"]


# --- end to end: the zip's setup.sh and run_autograder in a folder laid out like /autograder ---------


def _reused_site_packages():
    """This interpreter's site-packages: the new environment reuses its dependencies (no download)."""
    return sysconfig.get_path("purelib")


def _base_python():
    return str(Path(sys._base_executable).resolve()) if hasattr(sys, "_base_executable") else sys.executable


@pytest.fixture(scope="module")
def autograder(tmp_path_factory, request):
    """A root laid out like Gradescope's, the zip unpacked into source/, setup.sh run in it."""
    zip_path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    gradescope.build(zip_path, seed=8191)
    # Outside pytest's 0700 temporary folders: a worker with a uid of its own must reach the environment.
    root = Path(tempfile.mkdtemp(prefix="hw9-autograder-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    os.chmod(root, 0o755)
    with zipfile.ZipFile(zip_path) as archive:  # as Gradescope does: the zip's contents in source/, modes kept
        for info in archive.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod(info.external_attr >> 16 & 0o777)
    env = {**os.environ, "HW9_AUTOGRADER_ROOT": str(root), "HW9_BUNDLE_PYTHON": _base_python(), "HW9_BUNDLE_SITE_PACKAGES": _reused_site_packages()}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return root, setup.stdout


def run_submission(root, place):
    """Empty submission/ and results/, let `place(submission)` fill it, run run_autograder; its results."""
    for name in ("submission", "results"):
        shutil.rmtree(root / name, ignore_errors=True)
        (root / name).mkdir()
    place(root / "submission")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HW9_", "PYTHONPATH"))}
    env["HW9_AUTOGRADER_ROOT"] = str(root)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
    completed = subprocess.run([str(root / "run_autograder")], env=env, cwd="/", capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results_schema.validate(results) == [], completed.stdout
    jsonschema.validate(results, results_schema.RESULTS)
    return results, completed.stdout


def copy_entry(name):
    def place(submission):
        for path in (layout.CORPUS_DIR / name).glob("*.py"):
            shutil.copy(path, submission / path.name)
    return place


@pytest.mark.slow
def test_setup_makes_a_fresh_environment_with_this_package_from_the_bundle(autograder):
    root, setup_output = autograder
    python = root / gradescope.VENV_DIR / "bin" / "python"
    where = subprocess.run([str(python), "-I", "-c", "import graders; print(graders.__file__)"], capture_output=True, text=True, cwd="/")
    assert where.stdout.strip().startswith(str(root / gradescope.VENV_DIR)), where  # this bundle's copy, not the checkout
    assert "hw9 sandbox here:" in setup_output and "ready: grader 0.1.0" in setup_output
    assert not os.stat(root / "source" / "hw9" / "grading.json").st_mode & 0o077  # seed and rubric: root's only


@pytest.mark.slow
def test_the_reference_as_files_scores_100(autograder):
    root, _ = autograder
    results, stdout = run_submission(root, lambda folder: [shutil.copy(path, folder) for path in layout.REFERENCE_SUBMISSION.glob("q*.py")])
    assert results["score"] == 100 and all(test["status"] == "passed" for test in results["tests"])
    assert "total" in results["output"] and "100/100" in results["output"] and "Sandbox:" in results["output"]
    assert results["extra_data"]["hw9"]["sandbox"]["level"] in ("namespaces", "landlock", "none")
    assert "every check, as the instructor sees it" in stdout


@pytest.mark.slow
def test_the_reference_notebook_scores_100(autograder):
    root, _ = autograder
    notebook = layout.CORPUS_DIR / "notebook-reference-colab" / "reference-colab.ipynb"
    results, _ = run_submission(root, lambda folder: shutil.copy(notebook, folder / "hw9.ipynb"))
    assert results["score"] == 100


@pytest.mark.slow
def test_a_broken_submission_in_a_zip_gets_its_corpus_grade(autograder):
    root, _ = autograder

    def place(folder):
        with zipfile.ZipFile(folder / "submission.zip", "w") as archive:
            for path in (layout.CORPUS_DIR / "q1-minmax-swapped").glob("*.py"):
                archive.write(path, f"alice/hw9/{path.name}")

    results, _ = run_submission(root, place)
    assert corpus_differences(results, "q1-minmax-swapped") == []
    assert "graded the contents of submission.zip" in results["output"]


@pytest.mark.slow
def test_a_hostile_submission_gets_its_corpus_grade_and_leaves_nothing_outside(autograder):
    root, _ = autograder
    results, _ = run_submission(root, copy_entry("hostile-write-outside"))
    assert corpus_differences(results, "hostile-write-outside") == []
    marks = [path for path in root.rglob("HOSTILE_WAS_HERE")] + [path for path in (Path("/tmp"), Path.home()) if (path / "HOSTILE_WAS_HERE").exists()]
    assert marks == []


@pytest.mark.slow
def test_visibility_from_the_rubric_reaches_results_json(tmp_path_factory, autograder):
    root, _ = autograder
    from graders.deploy import bundles

    bundle = root / "source" / gradescope.BUNDLE_DIR
    original = (bundle / bundles.RUBRIC_FILE).read_bytes()
    (bundle / bundles.RUBRIC_FILE).write_bytes(withheld_rubric(tmp_path_factory.mktemp("rubric")).read_bytes())
    try:
        results, _ = run_submission(root, lambda folder: [shutil.copy(path, folder) for path in layout.REFERENCE_SUBMISSION.glob("q*.py")])
    finally:
        (bundle / bundles.RUBRIC_FILE).write_bytes(original)
    visibility = {test["name"].split("[")[0]: test["visibility"] for test in results["tests"]}
    assert visibility["q1.pool2d"] == "hidden" and visibility["q4.layer_table"] == "after_due_date" and visibility["q1.pool2d_golden"] == "visible"
    assert results["score"] == 100 and "hidden (never shown)" in results["output"]
