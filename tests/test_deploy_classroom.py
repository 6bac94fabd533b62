"""GitHub Classroom: the workflow parses, one test per question with its points, and its commands grade here."""
import json
import shlex
import shutil
import subprocess

import pytest
import yaml

from graders import layout, questions
from graders.deploy import classroom
from graders.judge.rubric import load_rubric

from tests.deploy_helpers import environment_with_venv_first, withheld_rubric


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A student's repository: the reference's files, and the bundle committed by the teacher."""
    repo = tmp_path_factory.mktemp("student-repo")
    workflow, lines = classroom.build(repo, seed=31337)
    for path in layout.REFERENCE_SUBMISSION.glob("q*.py"):
        shutil.copy(path, repo / path.name)
    return repo, yaml.safe_load(workflow.read_text()), lines


def grading_steps(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    return [step for step in steps if step.get("uses") == classroom.COMMAND_GRADER]


def run_command(repo, command):
    return subprocess.run(command, shell=True, cwd=repo, env=environment_with_venv_first(), capture_output=True, text=True, timeout=600)


def test_the_workflow_parses_and_has_one_test_per_question_with_its_points(repository):
    repo, workflow, lines = repository
    assert workflow["name"] and set(workflow["on"]) >= {"push"} and workflow["permissions"]["checks"] == "write"
    steps = grading_steps(workflow)
    rubric = load_rubric(repo / classroom.BUNDLE_DIR / "rubric.yaml")
    assert [step["id"] for step in steps] == list(questions.names())
    for step, question in zip(steps, questions.all_questions()):
        settings = step["with"]
        assert settings["max-score"] == rubric.max_score(question.name) == question.points
        assert settings["command"] == classroom.grading_command(question.name, question.points)
        assert settings["timeout"] == classroom.TIMEOUT_MINUTES and question.title in settings["test-name"]
    assert sum(step["with"]["max-score"] for step in steps) == 100
    reporter = workflow["jobs"]["run-autograding-tests"]["steps"][-1]
    assert reporter["uses"] == classroom.REPORTER
    assert reporter["with"]["runners"].split(",") == list(questions.names())
    assert reporter["env"] == {f"{name.upper()}_RESULTS": f"${{{{steps.{name}.outputs.result}}}}" for name in questions.names()}
    assert any("100 points" in line for line in lines)


def test_the_install_step_installs_the_bundled_wheel_with_pinned_dependencies(repository):
    repo, workflow, _ = repository
    install = next(step for step in workflow["jobs"]["run-autograding-tests"]["steps"] if step.get("name") == "Install the grader")["run"]
    settings = json.loads((repo / classroom.BUNDLE_DIR / "grading.json").read_text())
    assert settings["grading_seed"] == 31337
    for word in ("constraints.txt", "requirements.txt", settings["wheel"]):
        assert word in install and word in " ".join(path.name for path in (repo / classroom.BUNDLE_DIR).iterdir())
    python = next(step for step in workflow["jobs"]["run-autograding-tests"]["steps"] if step.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == settings["python"]


def test_a_questions_command_grades_the_reference_to_its_full_points_here(repository):
    repo, workflow, _ = repository
    step = grading_steps(workflow)[-1]  # q4: the cheapest to grade
    completed = run_command(repo, step["with"]["command"])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "q4                   20/20" in completed.stdout and "--fail-under 20: passed" in completed.stdout


@pytest.mark.slow
def test_every_command_grades_the_reference_to_100_here(repository):
    repo, workflow, _ = repository
    earned = 0
    for step in grading_steps(workflow):
        completed = run_command(repo, step["with"]["command"])
        assert completed.returncode == 0, completed.stdout + completed.stderr
        earned += step["with"]["max-score"]
    assert earned == 100


@pytest.mark.slow
def test_a_broken_question_fails_its_test_only(tmp_path):
    repo = tmp_path / "repo"
    classroom.build(repo, rubric=withheld_rubric(tmp_path), seed=5)
    for path in (layout.CORPUS_DIR / "q1-minmax-swapped").glob("q*.py"):
        shutil.copy(path, repo / path.name)
    shutil.copy(layout.REFERENCE_SUBMISSION / "q4.py", repo / "q4.py")
    workflow = yaml.safe_load((repo / classroom.WORKFLOW).read_text())
    codes = {step["id"]: run_command(repo, step["with"]["command"]).returncode for step in grading_steps(workflow) if step["id"] in ("q1", "q4")}
    assert codes == {"q1": 1, "q4": 0}
    assert shlex.split(grading_steps(workflow)[0]["with"]["command"])[:3] == ["python", "-m", "graders.deploy.grade"]
