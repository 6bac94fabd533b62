"""Fixtures shared by the project's own tests: the corpus graded once per session, a tiny CIFAR-10."""
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from graders.batch.processes import available_cores
from graders.cifar10 import data
from graders.judge.submission import Submission
from graders.selftest import expectations, run

_CORPUS_KEY = pytest.StashKey["GradedCorpus"]()


@dataclass
class GradedCorpus:
    """Every selected corpus entry graded by one hw9-grade run."""

    graded: run.CorpusRun
    errors: dict = field(default_factory=dict)  # entry name -> CorpusError of a malformed entry

    @property
    def runs(self):
        return self.graded.runs


def _selected_entry_names(session):
    """Names of the corpus entries whose tests this run selected (all of them by default)."""
    names = {item.callspec.params["entry_name"] for item in session.items if item.get_closest_marker("corpus") and hasattr(item, "callspec") and "entry_name" in item.callspec.params}
    return names or {path.name for path in expectations.entry_folders()}


@pytest.fixture(scope="session")
def graded_corpus(request, tmp_path_factory):
    """Grade the selected entries once; HW9_CORPUS_JOBS sets hw9-grade's --jobs (default: the cores)."""
    wanted = _selected_entry_names(request.session)
    entries, errors = [], {}
    for path in expectations.entry_folders():
        if path.name not in wanted:
            continue
        try:
            entries.append(expectations.load_entry(path))
        except expectations.CorpusError as error:
            errors[path.name] = error
    jobs = int(os.environ.get("HW9_CORPUS_JOBS", 0)) or available_cores()
    graded = GradedCorpus(run.grade_all(entries, tmp_path_factory.mktemp("corpus"), jobs=jobs), errors)
    request.config.stash[_CORPUS_KEY] = graded
    return graded


def pytest_terminal_summary(terminalreporter, config):
    graded = config.stash.get(_CORPUS_KEY, None)
    if graded is None:
        return
    corpus, runs = graded.graded, list(graded.runs.values())
    line = run.summary_line(runs)
    if graded.errors:
        line += f", {len(graded.errors)} malformed"
    judges = "judges forked from a preloaded process" if corpus.preloaded else "judges started as fresh interpreters"
    per_entry = corpus.grading_cpu_seconds / len(runs) if runs else 0.0
    terminalreporter.write_sep("=", "grader self-test corpus")
    terminalreporter.write_line(line)
    terminalreporter.write_line(run.false_negative_audit(runs).line())
    terminalreporter.write_line(
        f"graded {len(runs)} entries with hw9-grade in {corpus.wall_seconds:.0f} s wall on {corpus.jobs} parallel jobs, {judges} "
        f"({corpus.grading_cpu_seconds:.0f} s CPU in gradings, {per_entry:.1f} s per entry; {corpus.cpu_seconds:.0f} s in all)"
    )
    slowest = sorted(runs, key=lambda graded_run: graded_run.seconds, reverse=True)[:5]
    terminalreporter.write_line("slowest: " + ", ".join(f"{graded_run.entry.name} {graded_run.seconds:.0f} s" for graded_run in slowest))


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


@pytest.fixture
def open_submission():
    """Open Submissions with Submission's arguments; each is closed after the test."""
    opened = []

    def opener(folder, **settings):
        opened.append(Submission(folder, **settings))
        return opened[-1]

    yield opener
    for submission in opened:
        submission.close()
