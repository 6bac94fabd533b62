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


def defined_checks():
    """Every check the question packages define, whatever this run selected."""
    names = set()
    for question in questions.all_questions():
        for path in question.check_files():
            module = importlib.import_module(f"{questions.__name__}.{question.name}.{path.stem}")
            names.update(f"{question.name}.{name.removeprefix('test_')}" for name in vars(module) if name.startswith("test_"))
    return names
