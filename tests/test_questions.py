"""Questions come from their folders: a fifth one is one folder plus one rubric block.

The toy question is added to a copy of the package in a temporary tree, which then grades
it with the installed plugin (run from that tree, outside the checkout) and files it in
hw9-grade's gradebook like the four real ones.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from graders import layout, questions

TOY_DESCRIPTOR = '''
from graders.questions import Question

QUESTION = Question(name="q5", title="Toy: double a number", points=4, exports=("double",), cost=0.5)
'''
TOY_CHECKS = '''
import pytest

from graders.judge.verdict import expect_equal, value_of


@pytest.mark.parametrize("x", [0, 3, -7])
def test_double(student, x):
    expect_equal(value_of(student.call("q5", "double", x), f"double({x})"), 2 * x, f"double({x})")


def test_double_random(student, rng):
    x = int(rng.integers(-1000, 1000))
    expect_equal(value_of(student.call("q5", "double", x), f"double({x})"), 2 * x, f"double({x})")
'''
TOY_RUBRIC = """
  # --- Q5 (toy): 4 points ---
  q5.double: {points: 3}
  q5.double_random: {points: 1}
"""


def test_the_four_questions_of_the_contract():
    assert questions.names() == ("q1", "q2", "q3", "q4")
    assert sum(question.points for question in questions.all_questions()) == 100
    for question in questions.all_questions():
        assert question.check_files() and question.folder.name == question.name == question.module
        assert question.exports and question.cost > 0


def test_an_unknown_question_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown question 'q9': expected one of q1, q2, q3, q4"):
        questions.get("q9")


@pytest.fixture(scope="module")
def toy_tree(tmp_path_factory):
    """A copy of the package and its rubric with a fifth question, and a submission answering it."""
    tree = tmp_path_factory.mktemp("toy-tree")
    shutil.copytree(layout.PACKAGE_DIR, tree / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "fixtures").mkdir()
    rubric = layout.DEFAULT_RUBRIC.read_text()
    (tree / "fixtures" / "rubric.yaml").write_text(rubric + TOY_RUBRIC)
    folder = tree / "graders" / "questions" / "q5"
    folder.mkdir()
    (folder / "__init__.py").write_text(TOY_DESCRIPTOR)
    (folder / "checks.py").write_text(TOY_CHECKS)
    student = tree / "class" / "ann"
    student.mkdir(parents=True)
    (student / "q5.py").write_text("def double(x):\n    return x + x\n")
    shutil.copy(layout.REFERENCE_SUBMISSION / "q1.py", student / "q1.py")
    return tree


def _run(tree, *command, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, *command], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_toy_question_is_graded_from_its_folder_and_rubric_block(toy_tree):
    listed = _run(toy_tree, "-c", "from graders import questions; print(','.join(questions.names()))")
    assert listed.stdout.strip() == "q1,q2,q3,q4,q5", listed.stderr
    run = _run(toy_tree, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--submission", "class/ann", "--questions", "q1,q5", "--grade-json", "r.json")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = json.loads((toy_tree / "r.json").read_text())
    toy = [test for test in results["tests"] if test["name"].startswith("q5.")]
    assert sorted(test["name"] for test in toy) == ["q5.double[-7]", "q5.double[0]", "q5.double[3]", "q5.double_random"]
    assert sum(test["score"] for test in toy) == pytest.approx(4) and results["score"] == pytest.approx(29)
    assert "q5" in run.stdout and "29/29" in run.stdout, "the score table has a q5 row and the total"


def test_a_toy_question_gets_a_gradebook_column(toy_tree):
    out = toy_tree / "out"
    run = _run(toy_tree, "-m", "graders.batch.cli", "class", "--out", str(out), "--jobs", "1", "--only", "q5")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    with open(out / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0])[:6] == ["student_id", "q1", "q2", "q3", "q4", "q5"]
    assert (rows[0]["student_id"], float(rows[0]["q5"]), rows[0]["status"]) == ("ann", 4.0, "graded")


def test_a_descriptor_whose_points_its_rubric_block_misses_stops_collection(toy_tree, tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text((toy_tree / "fixtures" / "rubric.yaml").read_text().replace("q5.double_random: {points: 1}", "q5.double_random: {points: 2}"))
    run = _run(toy_tree, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--submission", "class/ann", "--rubric", str(rubric))
    assert run.returncode == 4
    assert "the q5 entries add up to 5 points, its descriptor gives it 4" in run.stdout + run.stderr


def test_a_descriptor_named_unlike_its_folder_is_refused(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(layout.PACKAGE_DIR, tree / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "graders" / "questions" / "q5").mkdir()
    (tree / "graders" / "questions" / "q5" / "__init__.py").write_text(textwrap.dedent(TOY_DESCRIPTOR).replace('name="q5"', 'name="q6"'))
    run = _run(tree, "-c", "from graders import questions; questions.all_questions()")
    assert "graders/questions/q5: QUESTION.name is 'q6', expected 'q5'" in run.stderr
