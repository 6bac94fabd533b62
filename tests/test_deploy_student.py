"""The student bundle: no withheld check's code, name or rubric entry in it, and its hw9-check runs."""
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest
import yaml

from graders import layout
from graders.deploy import student
from graders.deploy.bundles import PUBLIC_SEED

from tests.deploy_helpers import WITHHELD, check_function_sources, withheld_rubric

MODULE = textwrap.dedent('''\
    """Checks."""
    import pytest

    SHARED = (1, 2)
    ONLY_HIDDEN = [3, 4]
    IMPORTED_ELSEWHERE = 5


    def shared_helper(x):
        return x + SHARED[0]


    def hidden_helper(x):
        return x * ONLY_HIDDEN[0]


    @pytest.fixture
    def hidden_fixture():
        return 1


    @pytest.fixture
    def kept_fixture():
        return 2


    def test_visible(student, kept_fixture):
        assert shared_helper(kept_fixture) == 3


    # The secret check: what it looks for is nobody's business.
    @pytest.mark.parametrize("n", ONLY_HIDDEN)
    def test_secret(student, hidden_fixture, n):
        assert hidden_helper(n) == shared_helper(n) + hidden_fixture
''')


def test_stripping_removes_the_check_what_only_it_used_and_its_comment():
    text, removed = student.strip_checks(MODULE, {"test_secret"}, mentioned_elsewhere={"IMPORTED_ELSEWHERE"})
    assert removed == ["ONLY_HIDDEN", "hidden_fixture", "hidden_helper", "test_secret"]
    for gone in ("test_secret", "hidden_helper", "ONLY_HIDDEN", "hidden_fixture", "nobody's business"):
        assert gone not in text
    for kept in ("def test_visible", "def shared_helper", "SHARED = (1, 2)", "def kept_fixture", "IMPORTED_ELSEWHERE = 5"):
        assert kept in text
    compile(text, "checks.py", "exec")


def test_descriptor_points_become_the_visible_points():
    source = (layout.PACKAGE_DIR / "questions" / "q1" / "__init__.py").read_text()
    changed = student._replace_points(source, 19)
    assert "points=19," in changed and "points=25" not in changed
    assert changed.replace("points=19,", "points=25,") == source


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    rubric = withheld_rubric(folder)
    out = folder / "bundle"
    wheel, lines = student.build(out, rubric)
    return out, wheel, lines


def bundle_texts(out, wheel):
    """{where: text} of every file in the bundle, the wheel's members included."""
    texts = {}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix != ".whl":
            texts[str(path.relative_to(out))] = path.read_bytes().decode("utf-8", "replace")
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            texts[f"{wheel.name}!{name}"] = archive.read(name).decode("utf-8", "replace")
    return texts


@pytest.mark.parametrize("check", sorted(WITHHELD))
def test_no_withheld_checks_code_name_or_rubric_entry_is_in_the_bundle(bundle, check):
    out, wheel, _ = bundle
    function, source = check_function_sources(check)
    body = textwrap.dedent(source.split(":\n", 1)[1]) if ":\n" in source else source
    texts = bundle_texts(out, wheel)
    assert any("graders/questions/" in where for where in texts)  # the checks files are there
    for where, text in texts.items():
        # The function's name anywhere a check or its rubric entry could be (graders/judge/naming.py
        # quotes `test_pool2d` as an example of a node id; that is no check's code).
        if "graders/questions/" in where or where.endswith(".yaml"):
            assert not re.search(rf"\b{function}\b", text), f"{function} in {where}"
        assert source not in text and body.strip() not in text, f"the body of {function} in {where}"
        assert not re.search(rf"^\s*{re.escape(check)}:", text, re.MULTILINE), f"rubric entry {check} in {where}"


def test_the_student_rubric_has_the_visible_checks_and_counts_the_others(bundle):
    out, wheel, lines = bundle
    shipped = yaml.safe_load((out / student.FOLDER / student.STUDENT_RUBRIC).read_text())
    full = yaml.safe_load(layout.DEFAULT_RUBRIC.read_text())
    assert set(shipped["checks"]) == set(full["checks"]) - set(WITHHELD)
    assert shipped["withheld"]["q1"] == {"hidden": {"checks": 1, "points": 6.0}}
    assert shipped["withheld"]["q4"] == {"after_due_date": {"checks": 1, "points": 6.0}}
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(student.STUDENT_RUBRIC).decode() == (out / student.FOLDER / student.STUDENT_RUBRIC).read_text()
        entry_points = archive.read("hw9_check-0.1.0.dist-info/entry_points.txt").decode()
    assert "hw9-check = graders.deploy.check:main" in entry_points and "hw9-grade" not in entry_points
    assert "withheld: 4 checks worth 23 points" in lines
    assert (out / "README.md").is_file() and "hw9-check" in (out / "README.md").read_text()


def test_the_bundles_hw9_check_gives_the_reference_full_marks_and_says_what_it_did_not_run(bundle):
    out, _, _ = bundle
    env = {key: value for key, value in os.environ.items() if not key.startswith("HW9_")}
    env["PYTHONPATH"] = str(out / student.FOLDER)  # the folder form: no installation
    completed = subprocess.run([sys.executable, "-m", "graders.deploy.check", str(layout.REFERENCE_SUBMISSION)], env=env, capture_output=True, text=True, timeout=600, cwd=out)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    assert f"public seed {PUBLIC_SEED}" in output
    assert "total                77/77" in output
    assert "q1: 1 check worth 6 points, hidden (never shown)" in output
    assert "q4: 1 check worth 6 points, shown after the due date" in output
    assert "q3.best_model_learns: trains on CIFAR-10 (0 points)" in output
    assert "full marks on the 77 points checked here" in output


@pytest.mark.slow
def test_the_student_wheel_installs_and_its_console_script_runs(bundle, tmp_path):
    out, wheel, _ = bundle
    venv = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / site / "reuse.pth").write_text(sysconfig.get_path("purelib") + "\n")  # the dependencies, installed here already
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HW9_", "PYTHONPATH"))}
    completed = subprocess.run([str(venv / "bin" / "hw9-check"), str(layout.CORPUS_DIR / "q1-minmax-swapped"), "--questions", "q1"], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "q1                 13/19" in completed.stdout or "/19" in completed.stdout
    assert "likely mistake: min and max pooling swapped" in completed.stdout
    assert "q1: 1 check worth 6 points, hidden" in completed.stdout
