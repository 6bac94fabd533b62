"""Fixtures shared by the project's own tests: the corpus graded once per session, a tiny CIFAR-10."""
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from graders.cifar10 import data
from graders.selftest import corpus

_CORPUS_KEY = pytest.StashKey["GradedCorpus"]()


@dataclass
class GradedCorpus:
    """Every selected corpus entry graded by the real graders, in parallel."""

    runs: dict = field(default_factory=dict)  # entry name -> corpus.GradeRun
    errors: dict = field(default_factory=dict)  # entry name -> CorpusError of a malformed entry
    wall_seconds: float = 0.0
    jobs: int = 1


def _selected_entry_names(session):
    """Names of the corpus entries whose tests this run selected (all of them by default)."""
    names = {item.callspec.params["entry_name"] for item in session.items if item.get_closest_marker("corpus") and hasattr(item, "callspec") and "entry_name" in item.callspec.params}
    return names or {path.name for path in corpus.entry_folders()}


@pytest.fixture(scope="session")
def graded_corpus(request, tmp_path_factory):
    """Grade the selected entries once; HW9_CORPUS_JOBS overrides the number of parallel gradings."""
    wanted = _selected_entry_names(request.session)
    entries, errors = [], {}
    for path in corpus.entry_folders():
        if path.name not in wanted:
            continue
        try:
            entries.append(corpus.load_entry(path))
        except corpus.CorpusError as error:
            errors[path.name] = error
    jobs = int(os.environ.get("HW9_CORPUS_JOBS", 0)) or corpus.default_jobs()
    runs, wall = corpus.grade_all(entries, tmp_path_factory.mktemp("corpus-grades"), jobs=jobs)
    graded = GradedCorpus(runs=runs, errors=errors, wall_seconds=wall, jobs=jobs)
    request.config.stash[_CORPUS_KEY] = graded
    return graded


def pytest_terminal_summary(terminalreporter, config):
    graded = config.stash.get(_CORPUS_KEY, None)
    if graded is None:
        return
    runs = list(graded.runs.values())
    line = corpus.summary_line(runs)
    if graded.errors:
        line += f", {len(graded.errors)} malformed"
    cpu = sum(run.cpu_seconds for run in runs)
    terminalreporter.write_sep("=", "grader self-test corpus")
    terminalreporter.write_line(line)
    terminalreporter.write_line(f"graded {len(runs)} entries in {graded.wall_seconds:.0f} s wall on {graded.jobs} parallel jobs ({cpu:.0f} s CPU)")
    slowest = sorted(runs, key=lambda run: run.seconds, reverse=True)[:5]
    terminalreporter.write_line("slowest: " + ", ".join(f"{run.entry.name} {run.seconds:.0f} s" for run in slowest))


PER_CLASS = {"train": 5, "test": 2}


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """`train/<class>/*.png` + `test/...` (lossless), and the arrays the loader must read."""
    monkeypatch.setenv("HW9_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "tiny-cifar"
    rng = np.random.default_rng(0)
    for split, count in PER_CLASS.items():
        for name in data.CLASS_NAMES:
            (root / split / name).mkdir(parents=True)
            for index in range(count):
                cv2.imwrite(str(root / split / name / f"{index:04d}.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return root
