"""The assignment's questions: one subpackage each, described by its `QUESTION`.

A question folder `graders/questions/qN/` holds its descriptor (`__init__.py`), its
checks (`checks*.py`, collected by the plugin) and whatever its checks need (contract,
oracle, named mistakes). Everything that lists questions (the plugin, the worker's
warm-up, the batch runner, the corpus, the reports) reads them from `all_questions()`.
"""
import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Question:
    """One question of the contract: what a submission hands in for it and what grading it costs."""

    name: str  # "q1": rubric prefix, gradebook column
    title: str
    points: float  # what the rubric's checks of this question add up to
    exports: tuple  # the names the contract requires the module to define
    needs_keras: bool = False  # its oracles are Keras layers or keras-tuner objects
    keras_in_worker: bool = False  # a correct answer runs Keras in the worker (warm workers pay off)
    cost: float = 1.0  # relative grading time, to schedule the dearest first

    @property
    def module(self):
        """The submission's file for it, without `.py`."""
        return self.name

    @property
    def folder(self):
        return Path(importlib.import_module(f"{__name__}.{self.name}").__file__).parent

    def check_files(self):
        return sorted(self.folder.glob("checks*.py"))


@functools.cache
def all_questions():
    """Every question package under this folder, by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.ispkg:
            question = importlib.import_module(f"{__name__}.{info.name}").QUESTION
            if question.name != info.name:
                raise ValueError(f"graders/questions/{info.name}: QUESTION.name is {question.name!r}, expected {info.name!r}")
            found.append(question)
    return tuple(found)


def names():
    """("q1", "q2", ...)."""
    return tuple(question.name for question in all_questions())


def get(name):
    """The question called `name`; ValueError naming the known ones otherwise."""
    for question in all_questions():
        if question.name == name:
            return question
    raise ValueError(f"unknown question {name!r}: expected one of {', '.join(names())}")


@functools.lru_cache(maxsize=None)
def question_of_path(path):
    """The question whose folder holds `path`, or None (cached: every hook of every check asks)."""
    path = Path(path).resolve()
    for question in all_questions():
        if question.folder in path.parents:
            return question
    return None
