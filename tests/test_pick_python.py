"""scripts/pick_python.py: setup.sh builds .venv with the fastest supported Python on PATH."""
import importlib.util
import json
import os
import stat
import sys

import pytest

from graders import layout

_spec = importlib.util.spec_from_file_location("pick_python", layout.PROJECT_ROOT / "scripts" / "pick_python.py")
pick_python = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pick_python)
Candidate = pick_python.Candidate


def _fake_python(folder, name, version=(3, 11, 9), can_make_venv=True, seconds=0.5):
    """An executable that answers the identity question and the probe as an interpreter would."""
    identity = json.dumps({"executable": str(folder / name), "version": list(version), "can_make_venv": can_make_venv})
    script = folder / name
    script.write_text(f"#!/bin/sh\ncase \"$2\" in *find_spec*) echo '{identity}' ;; *) echo {seconds} ;; esac\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_this_interpreter_is_identified_as_it_is():
    candidate = pick_python.identify(sys.executable)
    assert candidate == Candidate(os.path.realpath(sys.executable), tuple(sys.version_info[:3]), True)
    assert candidate.usable()


def test_a_command_that_does_not_run_is_no_candidate(tmp_path):
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert pick_python.identify(str(broken)) is None
    assert pick_python.identify(str(tmp_path / "absent")) is None


def test_each_file_on_path_is_listed_once_and_folders_and_other_names_never(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    python = _fake_python(first, "python3.11")
    (second / "python3.11").symlink_to(python)  # the same file by another way
    (second / "python3.12").mkdir()  # not an executable
    _fake_python(second, "python3.9")  # not a supported name
    (second / "python3").write_text("not executable")
    assert pick_python.commands_on_path(os.pathsep.join([str(first), "", str(second)])) == [python]


@pytest.mark.parametrize(
    "candidate, usable",
    [
        (Candidate("/x", (3, 11, 2), True), True),
        (Candidate("/x", (3, 13, 0), True), True),
        (Candidate("/x", (3, 10, 13), True), False),
        (Candidate("/x", (3, 14, 0), True), False),
        (Candidate("/x", (3, 12, 1), False), False),
    ],
    ids=["3.11", "3.13", "3.10-too-old", "3.14-no-wheels", "no-venv"],
)
def test_only_supported_versions_that_can_make_a_venv_are_usable(candidate, usable):
    assert candidate.usable() is usable


def test_the_fastest_usable_interpreter_is_chosen_and_an_unusable_one_never():
    slow = Candidate("/slow", (3, 11, 7), True, 0.15)
    fast = Candidate("/fast", (3, 11, 2), True, 0.10)
    faster_but_old = Candidate("/old", (3, 10, 13), True, 0.05)
    faster_without_venv = Candidate("/bare", (3, 12, 1), False, 0.01)
    assert pick_python.choose([slow, faster_but_old, fast, faster_without_venv]) == fast
    assert pick_python.choose([slow, faster_but_old]) == slow
    assert pick_python.choose([faster_but_old, faster_without_venv]) is None


def test_the_survey_times_every_usable_interpreter_and_main_prints_the_fastest(tmp_path, monkeypatch, capsys):
    _fake_python(tmp_path, "python3", seconds=0.3)
    fast = _fake_python(tmp_path, "python3.12", version=(3, 12, 1), seconds=0.2)
    _fake_python(tmp_path, "python3.13", version=(3, 13, 0), can_make_venv=False, seconds=0.1)
    found = {candidate.executable: candidate.seconds for candidate in pick_python.survey(str(tmp_path))}
    assert found == {str(tmp_path / "python3"): 0.3, fast: 0.2, str(tmp_path / "python3.13"): float("inf")}
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pick_python.main(["--table"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{fast}\n"
    assert f"* {fast} 3.12.1: 0.200 s" in err and "(no venv module)" in err


def test_with_no_usable_interpreter_main_fails_and_says_why(tmp_path, monkeypatch, capsys):
    _fake_python(tmp_path, "python3", version=(3, 10, 13))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pick_python.main([]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no Python 3.11-3.13 with the venv module on PATH" in err and "(unsupported version)" in err


def test_the_probe_runs_in_this_interpreter_and_reports_a_cpu_time():
    (timed,) = pick_python.timed([pick_python.identify(sys.executable)], rounds=1)
    assert 0 < timed.seconds < pick_python.PROBE_TIMEOUT_S
