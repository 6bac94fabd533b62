"""Grading settings layered as pytest plugins layer theirs: ini, then environment, then command line."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from graders import layout
from graders.judge import settings
from graders.judge.jail import Level


class FakeConfig:
    """The three layers as pytest's Config gives them."""

    def __init__(self, options=None, ini=None, inipath=None):
        self.options, self.ini, self.inipath = options or {}, ini or {}, inipath

    def getoption(self, dest):
        return self.options.get(dest.removeprefix("hw9_"))

    def getini(self, name):
        return self.ini.get(name.removeprefix("hw9_"))


def test_every_setting_is_a_field_of_the_settings_object():
    assert [setting.name for setting in settings.SETTINGS] == list(settings.GradingSettings.__dataclass_fields__)


def test_defaults_when_no_layer_says_anything(monkeypatch):
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.environment, raising=False)
    resolved = settings.resolve(FakeConfig())
    assert resolved.submission == layout.REFERENCE_SUBMISSION and resolved.rubric == layout.DEFAULT_RUBRIC
    assert (resolved.questions, resolved.grading_seed, resolved.worker_memory_gb) == ((), 0, settings.WORKER_MEMORY_GB)
    assert resolved.require_sandbox is Level.NONE and resolved.grade_json is None


@pytest.mark.parametrize(
    "options, environment, ini, expected",
    [
        ({}, {}, {"grading_seed": "11"}, 11),
        ({}, {"HW9_GRADING_SEED": "22"}, {"grading_seed": "11"}, 22),
        ({"grading_seed": "33"}, {"HW9_GRADING_SEED": "22"}, {"grading_seed": "11"}, 33),
    ],
    ids=["ini", "environment-over-ini", "command-line-over-both"],
)
def test_the_later_layer_wins(monkeypatch, options, environment, ini, expected):
    monkeypatch.delenv("HW9_GRADING_SEED", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert settings.resolve(FakeConfig(options, ini)).grading_seed == expected


def test_an_ini_path_is_relative_to_the_ini_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HW9_RUBRIC", raising=False)
    resolved = settings.resolve(FakeConfig(ini={"rubric": "course/rubric.yaml", "questions": "q1, q3"}, inipath=tmp_path / "pytest.ini"))
    assert resolved.rubric == tmp_path / "course" / "rubric.yaml" and resolved.questions == ("q1", "q3")


@pytest.mark.parametrize(
    "name, text, words",
    [("grading_seed", "seven", "--grading-seed / hw9_grading_seed / HW9_GRADING_SEED"), ("require_sandbox", "jail", "sandbox level must be one of")],
    ids=["seed", "sandbox"],
)
def test_a_bad_value_names_the_setting_and_echoes_the_value(name, text, words):
    with pytest.raises(ValueError, match="got 'seven'" if text == "seven" else "got 'jail'") as raised:
        settings.resolve(FakeConfig({name: text}))
    assert words in str(raised.value)


def test_a_course_folder_grades_with_its_own_ini_and_environment(tmp_path):
    """`pytest` in a folder outside the checkout, with the plugin from the installed package."""
    shutil.copytree(layout.REFERENCE_SUBMISSION, tmp_path / "student", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nhw9_submission = student\nhw9_questions = q1\nhw9_grade_json = out/results.json\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "HW9_"))}
    env["HW9_QUESTIONS"] = "q4"  # the environment over the ini file
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {test["name"].split(".")[0] for test in results["tests"]} == {"q4"} and results["score"] == pytest.approx(20)
    assert f"hw9 grade: {tmp_path / 'student'}" in run.stdout
