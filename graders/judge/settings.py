"""The grading settings: each defined once, read from ini, environment and command line.

As pytest plugins layer theirs: a course's `pytest.ini` / `pyproject.toml` sets
`hw9_<name>`, the environment `HW9_<NAME>`, the command line `--<name>`; the later one
wins. Every reader gets one frozen `GradingSettings`, never the raw options.
"""
import os
from dataclasses import dataclass
from pathlib import Path

from graders import layout
from graders.judge.jail import Level

CALL_TIMEOUT_S = 30.0  # each call a check makes, unless the rubric says otherwise
IMPORT_TIMEOUT_S = 120.0  # importing one question module (TensorFlow alone takes seconds)
WORKER_MEMORY_GB = 8.0  # the worker's address-space limit


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, how to parse a text value, help written once."""

    name: str
    default: object
    parse: object  # str -> value
    help: str
    metavar: str = None
    is_path: bool = False  # relative paths in an ini file are relative to that file

    @property
    def option(self):
        return "--" + self.name.replace("_", "-")

    @property
    def ini(self):
        return f"hw9_{self.name}"

    @property
    def environment(self):
        return f"HW9_{self.name.upper()}"


def _questions(text):
    return tuple(name.strip() for name in str(text).split(",") if name.strip())


def _level(text):
    return Level.parse(str(text))


def _yes_no(text):
    answer = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}.get(str(text).strip().lower())
    if answer is None:
        raise ValueError("expected yes or no")
    return answer


SETTINGS = (
    Setting("submission", layout.REFERENCE_SUBMISSION, Path, "folder of the submission to grade (default: the reference solutions/)", "DIR", True),
    Setting("grade_json", None, Path, "write a Gradescope results.json to FILE", "FILE", True),
    Setting("rubric", layout.DEFAULT_RUBRIC, Path, "rubric YAML: points, visibility, time limits (default: fixtures/rubric.yaml)", "FILE", True),
    Setting("questions", (), _questions, "grade only these questions, e.g. q1,q3 (default: all)", "LIST"),
    Setting("grading_seed", 0, int, "seed of the random cases (set a private one to deter hard-coding)", "N"),
    Setting("worker_memory_gb", WORKER_MEMORY_GB, float, "address-space limit of the worker process, in GiB", "GB"),
    Setting("tuner_report", None, Path, "write Q3 tuner reports (trials CSV, PNG plot) here (default: beside --grade-json)", "DIR", True),
    Setting(
        "require_sandbox", Level.NONE, _level,
        "refuse to grade unless workers get at least this sandbox: namespaces (bubblewrap), landlock, none", "LEVEL",
    ),
    Setting(
        "warm_workers", True, _yes_no,
        "fork workers from a fork server that imported TensorFlow once (yes), or start each afresh (no)", "yes|no",
    ),
    Setting(
        "fail_under", None, float,
        "a CI gate: exit 1 when the total score is below SCORE (or a check could not be graded), else 0 even when checks lost points",
        "SCORE",
    ),
)


@dataclass(frozen=True)
class GradingSettings:
    """What one grading run was asked to do, whatever layer each value came from."""

    submission: Path
    grade_json: Path | None
    rubric: Path
    questions: tuple
    grading_seed: int
    worker_memory_gb: float
    tuner_report: Path | None
    require_sandbox: Level
    warm_workers: bool
    fail_under: float | None


def register(parser):
    """The command-line options and ini keys of every setting."""
    group = parser.getgroup("hw9", "hw9 grading")
    for setting in SETTINGS:
        layers = f" [ini {setting.ini}, env {setting.environment}]"
        group.addoption(setting.option, dest=f"hw9_{setting.name}", default=None, metavar=setting.metavar, help=setting.help + layers)
        parser.addini(setting.ini, setting.help, type="string", default=None)


def resolve(config):
    """GradingSettings from the command line, else the environment, else the ini file, else the default."""
    values = {}
    for setting in SETTINGS:
        text, base = config.getoption(f"hw9_{setting.name}"), Path.cwd()
        if text is None:
            text = os.environ.get(setting.environment) or None
        if text is None:
            text = config.getini(setting.ini)
            base = Path(config.inipath).parent if config.inipath else base
        values[setting.name] = setting.default if text is None else _parsed(setting, text, base)
    return GradingSettings(**values)


def _parsed(setting, text, base):
    try:
        value = setting.parse(text)
    except ValueError as error:
        raise ValueError(f"{setting.option} / {setting.ini} / {setting.environment}: {error} (got {text!r})") from None
    if setting.is_path and not value.is_absolute():
        value = base / value
    return value

