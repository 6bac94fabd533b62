"""What the plugin knows during one grading run, as one object kept in pytest's stash."""
import resource
import threading
import time
from dataclasses import dataclass, field

import pytest

from graders.judge.jail import Level
from graders.judge.rubric import Rubric
from graders.judge.settings import GradingSettings
from graders.judge.sources import GradedSource

_JUDGE_LIMITS = (resource.RLIMIT_AS, resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU)


def judge_limits():
    """The grading process's own limits: a change from outside disturbs the grading."""
    return [resource.getrlimit(which) for which in _JUDGE_LIMITS]


@dataclass(frozen=True)
class InternalError:
    """A check that could not be graded because the grader itself failed."""

    check: str
    error: str


@dataclass
class GradingState:
    settings: GradingSettings
    rubric: Rubric
    source: GradedSource  # the folder the worker imports: the submission's, or built from its notebook
    started: float = field(default_factory=time.monotonic)
    limits: list = field(default_factory=judge_limits)
    level: Level | None = None  # the sandbox workers get, decided at collection
    cases: dict = field(default_factory=dict)  # case name -> its share of the check's points
    outcomes: list = field(default_factory=list)  # CheckOutcome, in the order the cases ran
    running: str | None = None  # the case under way
    internal_errors: list = field(default_factory=list)  # InternalError
    importer: threading.Thread | None = None  # the judge's background import of its Keras oracles
    submission: object = None  # the session's Submission, once started
    extra_workers: dict = field(default_factory=dict)  # settings -> Submission, see the worker_pool fixture
    partial: object = None  # graders.judge.report.PartialResults, from the first partial results written

    def workers(self):
        return [graded for graded in (self.submission, *self.extra_workers.values()) if graded is not None]


STATE = pytest.StashKey[GradingState]()


def state_of(config):
    return config.stash[STATE]
