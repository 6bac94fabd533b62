"""`python -m graders.deploy.grade SUBMISSION --bundle DIR`: the one grading command of every bundle.

Gradescope's run_autograder, each GitHub Classroom test and hw9-check all grade through
`run()`: the submission is found and copied clean (graders.deploy.submission), then the
grading plugin runs in a pytest process of its own, started in an empty temporary folder
with a configuration file of its own, so that nothing around it changes the grade: no
`conftest.py`, `pytest.ini` or `pyproject.toml` of the student's repository, no `HW9_*` or
`PYTEST_*` variable, no auto-loaded third-party plugin. The bundle's settings (rubric,
grading seed, sandbox requirement) are passed on the command line, which wins over every
other layer of graders.judge.settings.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from graders import layout, questions
from graders.deploy import submission as submissions
from graders.deploy.bundles import BundleError, GradingSettings
from graders.judge.jail import Level
from graders.judge.report import partial_results_path, remove_rewritten, rewritten_versions

VISIBLE_ONLY_PLUGIN = "graders.deploy.visible_only"
_EMPTY_INI = "[pytest]\n# hw9 bundle grading: nothing of the folder around the submission is read.\n"


@dataclass(frozen=True)
class Grading:
    """What one grading uses: the rubric, the seed, what to select and how to score the exit status."""

    rubric: Path
    grading_seed: int
    require_sandbox: str = "none"
    questions: tuple = ()
    fail_under: float | None = None
    visible_only: bool = False  # only the rubric's visible checks (hw9-check)

    @classmethod
    def from_bundle(cls, folder, **overrides):
        settings = GradingSettings.load(folder)
        values = {"rubric": settings.rubric_path(folder), "grading_seed": settings.grading_seed, "require_sandbox": settings.require_sandbox}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


@dataclass
class GradeRun:
    """How a grading went: pytest's exit status, the results it wrote, and what the student should know."""

    returncode: int
    results: dict | None = None
    notes: list = field(default_factory=list)  # how the submission was found
    error: str = ""  # why nothing could be graded (a submission that cannot be read, a refused sandbox)
    partial: bool = False  # the results are those written as the checks ran: the grading stopped
    check_notes: dict = field(default_factory=dict)  # graders.deploy.visible_only's account (withheld checks)

    @property
    def graded(self):
        return self.results is not None and not self.partial


def pytest_command(located, grading, results_path, workdir, notes_path=None):
    """The pytest command line; absolute paths, explicit check files, the plugin named with -p."""
    check_files = [str(path) for question in questions.all_questions() for path in question.check_files()]
    command = [
        sys.executable, "-m", "pytest", *check_files, "-c", str(workdir / "pytest.ini"), "--rootdir", str(workdir),
        "-q", "-p", "no:cacheprovider", "-p", "graders.judge.plugin",
        "--submission", str(located), "--rubric", str(Path(grading.rubric).resolve()), "--grading-seed", str(grading.grading_seed),
        "--require-sandbox", Level.parse(grading.require_sandbox).label, "--grade-json", str(results_path),
    ]
    if grading.questions:
        command += ["--questions", ",".join(grading.questions)]
    if grading.fail_under is not None:
        command += ["--fail-under", f"{grading.fail_under:g}"]
    if grading.visible_only:
        command += ["-p", VISIBLE_ONLY_PLUGIN, "--hw9-check-notes", str(notes_path)]
    return command


def pytest_environment():
    """This environment less every grading setting and pytest variable; no auto-loaded plugins."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HW9_", "PYTEST_"))}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    return env


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run(submission, grading, results_path, output=None):
    """Grade `submission` (folder, .zip or .ipynb) into the Gradescope results file `results_path`.

    `output`: where pytest's own output goes (a file object; None: this process's stdout).
    """
    results_path = Path(results_path).resolve()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.unlink(missing_ok=True)
    remove_rewritten(partial_results_path(results_path))
    scratch = Path(tempfile.mkdtemp(prefix="hw9-grade-"))
    try:
        try:
            located = submissions.locate(submission, scratch / "copy")
        except submissions.SubmissionError as error:
            return GradeRun(returncode=1, error=f"the submission could not be read: {error}")
        workdir = scratch / "pytest"
        workdir.mkdir()
        (workdir / "pytest.ini").write_text(_EMPTY_INI)
        notes_path = scratch / "check-notes.json"
        command = pytest_command(located.path, grading, results_path, workdir, notes_path)
        if output is not None:
            output.flush()
        completed = subprocess.run(command, cwd=workdir, env=pytest_environment(), stdout=output, stderr=subprocess.STDOUT if output is not None else None)
        run_ = GradeRun(returncode=completed.returncode, notes=list(located.notes), check_notes=_read_json(notes_path) or {})
        run_.results = _read_json(results_path)
        if run_.results is None:
            run_.results = next(filter(None, map(_read_json, rewritten_versions(partial_results_path(results_path)))), None)
            run_.partial = run_.results is not None
            if run_.partial:
                run_.error = "the grading stopped before it finished: the results are those of the checks that ran"
            else:
                run_.error = f"the grading wrote no results (pytest exit status {completed.returncode}; the grading log says why)"
        return run_
    finally:
        submissions.remove(scratch)


def default_rubric():
    return layout.DEFAULT_RUBRIC


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m graders.deploy.grade", description="Grade one submission with a bundle's settings.")
    parser.add_argument("submission", type=Path, help="a folder of q1.py..q4.py, a .zip of one, or a notebook")
    parser.add_argument("--bundle", type=Path, help="the bundle folder holding grading.json (rubric, grading seed, sandbox)")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: the bundle's, else fixtures/rubric.yaml)")
    parser.add_argument("--grading-seed", type=int, help="seed of the random cases (default: the bundle's)")
    parser.add_argument("--require-sandbox", choices=[level.label for level in Level], help="refuse to grade below this sandbox")
    parser.add_argument("--questions", help="grade only these questions, e.g. q1,q3")
    parser.add_argument("--fail-under", type=float, metavar="SCORE", help="exit 1 unless the score reaches SCORE (a CI test per question)")
    parser.add_argument("--results", type=Path, help="write the Gradescope results.json here (default: a temporary file)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(argv)
    picked = tuple(name.strip() for name in (args.questions or "").split(",") if name.strip())
    try:
        for name in picked:
            questions.get(name)
        if args.bundle is not None:
            grading = Grading.from_bundle(args.bundle, rubric=args.rubric, grading_seed=args.grading_seed, require_sandbox=args.require_sandbox, questions=picked, fail_under=args.fail_under)
        else:
            grading = Grading(
                rubric=args.rubric or default_rubric(), grading_seed=args.grading_seed or 0, require_sandbox=args.require_sandbox or "none",
                questions=picked, fail_under=args.fail_under,
            )
    except (BundleError, ValueError) as error:
        print(f"hw9 grade: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hw9-results-") as folder:
        graded = run(args.submission, grading, args.results or Path(folder) / "results.json")
    for note in graded.notes:
        print(f"note: {note}")
    if graded.error:
        print(f"hw9 grade: {graded.error}", file=sys.stderr)
        return graded.returncode or 1
    return graded.returncode


if __name__ == "__main__":
    sys.exit(main())
