"""Shared by tests/test_deploy_*.py: a rubric with checks of every visibility, corpus comparisons."""
import ast
import os
import sys
from pathlib import Path

import yaml

from graders import layout, questions
from graders.selftest import compare, expectations

PYTHON = sys.executable
# What `withheld_rubric` makes not visible: one check per question, each visibility.
WITHHELD = {
    "q1.pool2d": "hidden",
    "q2.filter_cv2": "hidden",
    "q3.make_tuner": "after_published",
    "q4.layer_table": "after_due_date",
}


def withheld_rubric(folder):
    """The shipped rubric with the WITHHELD checks made not visible; its path."""
    data = yaml.safe_load(layout.DEFAULT_RUBRIC.read_text())
    for name, visibility in WITHHELD.items():
        data["checks"][name]["visibility"] = visibility
    path = Path(folder) / "withheld-rubric.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def check_function_sources(check):
    """(function name, its source with decorators) of rubric check `check`, from the full package."""
    question_name, name = check.split(".", 1)
    function = f"test_{name}"
    for path in questions.get(question_name).check_files():
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == function:
                lines = source.splitlines(keepends=True)
                start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                return function, "".join(lines[start - 1:node.end_lineno])
    raise LookupError(check)


def corpus_differences(results, entry_name):
    """compare.compare of `results` against fixtures/submissions/<entry_name>/expected.yaml."""
    entry = expectations.load_entry(layout.CORPUS_DIR / entry_name)
    return compare.compare(results, entry.expected, expectations.absent_questions(entry))


def environment_with_venv_first():
    """This environment with the interpreter's folder first on PATH: `python` is this one."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(PYTHON) + os.pathsep + env.get("PATH", "")
    return env
