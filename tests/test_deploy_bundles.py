"""What every bundle is made of: the wheel, the pins, the grading settings, the hw9-grade bundle command."""
import base64
import hashlib
import json
import subprocess
import zipfile
from importlib import metadata

import pytest

from graders import layout
from graders.deploy import bundles, cli, gradescope
from graders.deploy.bundles import BundleError, PUBLIC_SEED

from tests.deploy_helpers import withheld_rubric


def test_the_wheel_holds_every_python_file_of_the_package_and_a_valid_record(tmp_path):
    wheel = bundles.grader_wheel(tmp_path)
    assert wheel.name == "hw9_grader-0.1.0-py3-none-any.whl"
    files = bundles.wheel_files(wheel)
    package = {path for path in files if path.startswith("graders/")}
    assert package == set(bundles.package_files())
    assert "graders/deploy/check.py" in package and "graders/judge/plugin.py" in package
    assert not any("__pycache__" in path or path.endswith(".pyc") for path in files)
    info = "hw9_grader-0.1.0.dist-info"
    record = files[f"{info}/RECORD"].decode().splitlines()
    for line in record:
        path, digest, size = line.rsplit(",", 2)
        if path == f"{info}/RECORD":
            continue
        expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(files[path]).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (expected, len(files[path])), path
    entry_points = files[f"{info}/entry_points.txt"].decode()
    assert "hw9-check = graders.deploy.check:main" in entry_points
    assert "hw9-grade = graders.batch.cli:main" in entry_points
    assert "[pytest11]\nhw9 = graders.judge.plugin" in entry_points
    meta = files[f"{info}/METADATA"].decode()
    assert "Name: hw9-grader" in meta and "Requires-Python: >=3.11" in meta and "Requires-Dist: tensorflow" in meta


def test_the_same_package_gives_the_same_wheel_bytes(tmp_path):
    first = bundles.grader_wheel(tmp_path / "a").read_bytes()
    assert bundles.grader_wheel(tmp_path / "b").read_bytes() == first


def test_constraints_pin_the_installed_version_of_every_dependency(tmp_path):
    bundles.write_requirements(tmp_path)
    pins = dict(line.split("==") for line in (tmp_path / "constraints.txt").read_text().splitlines() if "==" in line)
    for name in ("tensorflow", "keras", "keras-tuner", "numpy", "opencv-python-headless", "nbformat", "pytest", "scipy", "tf-keras"):
        match = {key.lower(): value for key, value in pins.items()}
        assert match[name] == metadata.version(name), name
    assert "absl-py" in {key.lower() for key in pins}  # a dependency of a dependency
    wanted = (tmp_path / "requirements.txt").read_text()
    assert "tensorflow>=2.21,<2.22" in wanted and "scipy" in wanted  # a submission may import scipy


def test_a_requirement_that_is_not_installed_cannot_be_pinned():
    with pytest.raises(BundleError, match="not-a-package-here"):
        bundles.pinned_versions(["not-a-package-here>=1"])


def test_the_grading_seed_is_private_unless_chosen():
    seed, line = bundles.choose_seed(None)
    assert seed != PUBLIC_SEED and "drawn" in line
    assert bundles.choose_seed(1234) == (1234, "grading seed 1234")
    assert "public seed" in bundles.choose_seed(PUBLIC_SEED)[1]


def test_settings_are_written_with_the_checked_rubric_and_read_back(tmp_path):
    rubric = withheld_rubric(tmp_path)
    folder = tmp_path / "bundle"
    folder.mkdir()
    bundles.write_settings(folder, rubric, 77, "landlock", wheel="w.whl")
    settings = bundles.GradingSettings.load(folder)
    assert (settings.grading_seed, settings.require_sandbox, settings.wheel) == (77, "landlock", "w.whl")
    assert settings.rubric_path(folder).read_text() == rubric.read_text()


def test_a_rubric_that_does_not_match_the_checks_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(layout.DEFAULT_RUBRIC.read_text().replace("q1.pool2d_golden: {points: 3}", "q1.pool2d_golden: {points: 4}"))
    with pytest.raises(BundleError, match="the q1 entries add up to 26 points"):
        bundles.checked_rubric(bad)


def test_the_gradescope_zip_has_its_scripts_at_the_root_and_executable(tmp_path):
    out, lines = gradescope.build(tmp_path / "autograder.zip", seed=4242)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        settings = json.loads(archive.read("hw9/grading.json"))
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "hw9/rubric.yaml", "hw9/grading.json", "hw9/requirements.txt", "hw9/constraints.txt", "hw9/hw9_grader-0.1.0-py3-none-any.whl"} == names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111 and not modes["hw9/rubric.yaml"] & 0o111
    assert settings["grading_seed"] == 4242 and settings["wheel"] == "hw9_grader-0.1.0-py3-none-any.whl"
    assert "HW9_BUNDLE_SITE_PACKAGES" in setup and "HW9_BUNDLE_PYTHON" in setup and "bubblewrap" in setup
    assert any("grading seed 4242" in line for line in lines)
    for script in ("setup.sh", "run_autograder"):  # bash can parse both
        (tmp_path / script).write_text(bundles.read_zip_text(out, script))
        assert subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True).returncode == 0, script


def test_an_offline_zip_carries_the_wheels_and_installs_without_a_registry(tmp_path):
    calls = []

    def fake_download(folder, pip_arguments):
        calls.append(list(pip_arguments))
        (folder / "wheels").mkdir()
        (folder / "wheels" / "numpy-0-py3-none-any.whl").write_bytes(b"stub")

    out, lines = gradescope.build(tmp_path / "offline.zip", seed=5, offline=True, pip_arguments=["--python-version", "3.12"], downloader=fake_download)
    assert calls == [["--python-version", "3.12"]]
    assert "hw9/wheels/numpy-0-py3-none-any.whl" in bundles.zip_names(out)
    assert "--no-index --find-links" in bundles.read_zip_text(out, "setup.sh")
    assert any("offline" in line for line in lines)


def test_hw9_grade_bundle_refuses_what_it_cannot_make(tmp_path, capsys):
    assert cli.main(["gradescope", str(tmp_path / "autograder.tar")]) == 2
    assert "must be a .zip" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks: {q1.nothing: {points: 1}}\n")
    assert cli.main(["github-classroom", str(tmp_path / "repo"), "--rubric", str(bad)]) == 2
    assert "rubric" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert cli.main(["student", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_hw9_grade_bundle_writes_a_classroom_bundle_and_takes_pip_arguments(tmp_path, capsys):
    assert cli.main(["github-classroom", str(tmp_path / "repo"), "--grading-seed", "12"]) == 0
    assert "grading seed 12" in capsys.readouterr().out
    assert (tmp_path / "repo" / ".github" / "workflows" / "classroom.yml").is_file()
    args = cli.parse_arguments(["gradescope", "a.zip", "--offline", "--pip-download-args=--python-version 3.12 --only-binary=:all:"])
    assert args.offline and args.pip_download_args.split() == ["--python-version", "3.12", "--only-binary=:all:"]
