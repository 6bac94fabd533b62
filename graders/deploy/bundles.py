"""What every bundle is made of: the package's files as a wheel, pinned dependencies, the grading settings.

A bundle never needs this checkout: the wheel is built here, from the `graders` package's
Python files (no build backend, no network), its dependencies are pinned to the versions
installed here (the ones the grader was tested with), and the grading settings (rubric,
grading seed, sandbox requirement) are one JSON file beside them, read by
`python -m graders.deploy.grade --bundle DIR`.
"""
import base64
import hashlib
import json
import os
import re
import secrets
import stat
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from graders import layout, questions
from graders.judge.jail import Level
from graders.judge.naming import defined_checks
from graders.judge.rubric import load_rubric

DISTRIBUTION = "hw9-grader"
SETTINGS_FILE = "grading.json"
RUBRIC_FILE = "rubric.yaml"
REQUIREMENTS_FILE = "requirements.txt"
CONSTRAINTS_FILE = "constraints.txt"
WHEELS_DIR = "wheels"
# The seed of hw9-check and of every public run: a bundle's grading seed must be another.
PUBLIC_SEED = 0
# Console scripts every wheel built here carries, whatever pyproject.toml lists yet.
CONSOLE_SCRIPTS = {"hw9-grade": "graders.batch.cli:main", "hw9-check": "graders.deploy.check:main"}
PYTEST_PLUGINS = {"hw9": "graders.judge.plugin"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible archives: the same files give the same bytes


class BundleError(Exception):
    """A bundle cannot be made as asked; the message says why (a one-line error, exit code 2)."""


@dataclass(frozen=True)
class Project:
    """The distribution's name, version and requirements, from pyproject.toml or the installed metadata."""

    name: str
    version: str
    summary: str
    requires_python: str
    dependencies: tuple
    submission_libraries: tuple  # the test extra: libraries a submission may import (scipy, tf_keras)
    scripts: dict = field(default_factory=dict)


def project():
    """This project's metadata: its pyproject.toml when this is a checkout, else the installed distribution's."""
    pyproject = layout.PROJECT_ROOT / "pyproject.toml"
    if pyproject.is_file():
        data = tomllib.loads(pyproject.read_text()).get("project", {})
        if data.get("name") == DISTRIBUTION:
            return Project(
                name=data["name"], version=data["version"], summary=data.get("description", ""),
                requires_python=data.get("requires-python", ""), dependencies=tuple(data.get("dependencies", ())),
                submission_libraries=tuple(data.get("optional-dependencies", {}).get("test", ())),
                scripts={**data.get("scripts", {}), **CONSOLE_SCRIPTS},
            )
    info = metadata.metadata(DISTRIBUTION)
    requirements = metadata.requires(DISTRIBUTION) or []
    plain = tuple(text for text in requirements if "extra ==" not in text)
    test = tuple(text.split(";")[0].strip() for text in requirements if re.search(r"extra\s*==\s*['\"]test['\"]", text))
    return Project(DISTRIBUTION, info["Version"], info.get("Summary", ""), info.get("Requires-Python", ""), plain, test, dict(CONSOLE_SCRIPTS))


def python_version():
    """The interpreter's "3.11": the pins below were resolved for it."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


# --- the package's files and the wheel ------------------------------------------------------------


def package_files(package_dir=layout.PACKAGE_DIR):
    """{"graders/judge/plugin.py": bytes, ...}: every Python and data file of the package (no caches, no hidden
    folders); the data files are its YAML files, as pyproject.toml's package-data says."""
    package_dir = Path(package_dir)
    files = {}
    for path in sorted([*package_dir.rglob("*.py"), *package_dir.rglob("*.yaml")]):
        relative = path.relative_to(package_dir)
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts) or not stat.S_ISREG(path.lstat().st_mode):
            continue
        files[f"{package_dir.name}/{relative.as_posix()}"] = path.read_bytes()
    return files


def wheel_name(name, version):
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-py3-none-any.whl"


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(out_dir, files, *, name, version, summary="", requires_python="", requires_dist=(), scripts=None, entry_points=None):
    """Write a pure-Python wheel of `files` ({archive path: bytes}) into `out_dir`; return its path.

    A wheel is a zip with a `.dist-info` folder (PEP 427): pip installs it without a build
    backend. Entries are sorted and dated 1980, so the same files give the same wheel.
    """
    dist_info = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        meta.append(f"Summary: {summary}")
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {requirement}" for requirement in requires_dist]
    groups = {"console_scripts": dict(scripts or {}), **{group: dict(values) for group, values in (entry_points or {}).items()}}
    entry_text = "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in sorted(values.items())) + "\n" for group, values in groups.items() if values)
    top_level = sorted({path.split("/", 1)[0] for path in files})
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    contents[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: graders.deploy.bundles\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents[f"{dist_info}/entry_points.txt"] = entry_text.encode()
    contents[f"{dist_info}/top_level.txt"] = ("\n".join(top_level) + "\n").encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(contents.items())]
    contents[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / wheel_name(name, version)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in sorted(contents.items()):
            archive.writestr(_zip_entry(arcname, 0o644), data)
    return path


def grader_wheel(out_dir, package_dir=layout.PACKAGE_DIR):
    """The wheel of this grader (the package as it is here), with its console scripts and pytest plugin."""
    info = project()
    return build_wheel(
        out_dir, package_files(package_dir), name=info.name, version=info.version, summary=info.summary,
        requires_python=info.requires_python, requires_dist=info.dependencies, scripts=info.scripts, entry_points={"pytest11": PYTEST_PLUGINS},
    )


# --- pinned dependencies ----------------------------------------------------------------------


def requirements(info=None):
    """What a grading environment installs: the grader's dependencies and the libraries a submission may import."""
    info = info or project()
    return [*info.dependencies, *info.submission_libraries]


def pinned_versions(requirement_texts):
    """["absl-py==2.5.1", ...]: the installed version of every distribution these requirements pull in.

    The closure is walked through the installed distributions' own requirements (markers
    evaluated for this interpreter); it is written as pip constraints, so a package a
    marker leaves out elsewhere is simply not installed there.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins, missing = {}, []
    pending = [Requirement(text) for text in requirement_texts]
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        if key in pins or key == canonicalize_name(DISTRIBUTION):
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        pins[key] = f"{key}=={dist.version}"
        for text in dist.requires or ():
            needed = Requirement(text)
            extras = ("", *requirement.extras)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    if missing:
        raise BundleError(f"cannot pin {', '.join(sorted(set(missing)))}: not installed here (run scripts/setup.sh first)")
    return [pins[key] for key in sorted(pins)]


def write_requirements(folder, info=None):
    """requirements.txt (what to install) and constraints.txt (the versions, pinned) into `folder`."""
    info = info or project()
    wanted = requirements(info)
    header = f"# {info.name} {info.version}: resolved with Python {python_version()} on {sys.platform}.\n"
    (Path(folder) / REQUIREMENTS_FILE).write_text(header + "".join(f"{text}\n" for text in wanted))
    (Path(folder) / CONSTRAINTS_FILE).write_text(header + "".join(f"{pin}\n" for pin in pinned_versions(wanted)))


# --- the grading settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class GradingSettings:
    """What a bundle grades with: recorded once when it is made, read by every grading."""

    grading_seed: int
    require_sandbox: str = "none"
    rubric: str = RUBRIC_FILE  # relative to the settings file
    python: str = ""
    version: str = ""
    wheel: str = ""

    def as_data(self):
        return {"format": 1, **self.__dict__}

    @classmethod
    def load(cls, folder):
        path = Path(folder) / SETTINGS_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise BundleError(f"{path}: not a bundle's grading settings ({error})") from None
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)

    def rubric_path(self, folder):
        return Path(folder) / self.rubric


def checked_rubric(path):
    """The rubric at `path`, refused unless it matches the checks (entries, points per question)."""
    from graders.judge.rubric import RubricError

    try:
        rubric = load_rubric(path)
        rubric.check_against(defined_checks(), questions.all_questions())
    except (OSError, RubricError) as error:
        raise BundleError(f"rubric {path}: {error}") from None
    return rubric


def choose_seed(seed):
    """The grading seed: `seed` when given, else a private one drawn now; never the public seed silently."""
    if seed is None:
        seed = PUBLIC_SEED
        while seed == PUBLIC_SEED:
            seed = secrets.randbelow(2**31)
        return seed, f"grading seed {seed} (drawn; recorded in the bundle, pass --grading-seed to choose one)"
    if seed == PUBLIC_SEED:
        return seed, f"warning: grading seed {seed} is the public seed of hw9-check: students can rehearse the graded random cases"
    return seed, f"grading seed {seed}"


def write_settings(folder, rubric_source, seed, require_sandbox="none", wheel=""):
    """Copy the (checked) rubric into `folder` and record the grading settings beside it."""
    Level.parse(require_sandbox)
    checked_rubric(rubric_source)
    folder = Path(folder)
    (folder / RUBRIC_FILE).write_bytes(Path(rubric_source).read_bytes())
    settings = GradingSettings(grading_seed=seed, require_sandbox=require_sandbox, python=python_version(), version=project().version, wheel=wheel)
    (folder / SETTINGS_FILE).write_text(json.dumps(settings.as_data(), indent=2) + "\n")
    return settings


# --- writing archives -------------------------------------------------------------------------


def _zip_entry(arcname, mode):
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def zip_folder(folder, out_path):
    """Zip the files under `folder` (not the folder itself: Gradescope wants setup.sh at the root), keeping exec bits."""
    folder, out_path = Path(folder), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(out_path.name + ".partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                mode = 0o755 if os.access(path, os.X_OK) else 0o644
                with open(path, "rb") as stream:
                    archive.writestr(_zip_entry(path.relative_to(folder).as_posix(), mode), stream.read())
    os.replace(temporary, out_path)
    return out_path


def write_executable(path, text):
    path = Path(path)
    path.write_text(text)
    path.chmod(0o755)
    return path


def zip_names(path):
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def read_zip_text(path, name):
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode()


def wheel_files(path):
    """{archive path: bytes} of a wheel (or any zip)."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}

