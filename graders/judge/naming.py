"""Names of graded things: `q1.pool2d_golden` for a check, `q1.pool2d_golden[max]` for one of its cases."""
import importlib
from pathlib import Path

from graders import questions


def question_of(item):
    """The Question whose checks file defines pytest item `item`, or None for any other test."""
    path = Path(str(item.path))
    if not path.name.startswith("checks"):
        return None
    return questions.question_of_path(path)


def is_check(item):
    return question_of(item) is not None


def check_name(item):
    """`graders/questions/q1/checks.py::test_pool2d_golden[max]` -> `q1.pool2d_golden`."""
    return f"{question_of(item).name}.{item.originalname.removeprefix('test_')}"


def case_name(item):
    """`q1.pool2d_golden[max]`: the check's name and the item's parameters."""
    return f"{check_name(item)}{item.name[len(item.originalname):]}"


def seed_key(item):
    """The text a case's random draws are seeded from, with the grading seed.

    It is the case's id in the layout where the corpus's expectations were set
    (`graders/checks/test_q1.py::test_pool2d[max-uint8]`): grades do not move when files
    do, nor with the folder pytest runs from (a node id would).
    """
    suffix = Path(str(item.path)).stem.removeprefix("checks")
    return f"graders/checks/test_{question_of(item).name}{suffix}.py::{item.name}"


def defined_checks():
    """Every check the question packages define, whatever this run selected."""
    names = set()
    for question in questions.all_questions():
        for path in question.check_files():
            module = importlib.import_module(f"{questions.__name__}.{question.name}.{path.stem}")
            names.update(f"{question.name}.{name.removeprefix('test_')}" for name in vars(module) if name.startswith("test_"))
    return names
