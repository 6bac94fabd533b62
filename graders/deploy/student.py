"""The self-check a course hands its students: the package less every check that is not visible.

A check is a `test_<name>` function of `graders/questions/qN/checks*.py` and its rubric
entry `qN.<name>` says who sees it. `hw9-grade bundle student DIR` copies the package's
Python files and, in the copies of the checks files, removes the function of every check
whose visibility is not `visible` (hidden, after_due_date, after_published), then every
top-level helper, constant or fixture that nothing left uses (found with `ast`, to a fixed
point; a name any other file of the package mentions is kept), with the comment lines
right above each. The question descriptors' points become those of the visible checks,
and the rubric shipped (`graders/deploy/student_rubric.yaml`) lists only the visible
checks, with how many checks and points were withheld per question but not their names.
So neither the code, the name nor the rubric entry of a withheld check is in the bundle;
tests/test_deploy_student.py checks it.

The bundle holds the package as a wheel (`hw9-check`, console script `hw9-check`) and as a
folder (`PYTHONPATH=DIR/hw9-check python -m graders.deploy.check PATH`).
"""
import ast
import re
import shutil
from pathlib import Path

import yaml

from graders import layout, questions
from graders.deploy import bundles
from graders.judge import yaml_data
from graders.judge.rubric import load_rubric

STUDENT_RUBRIC = "graders/deploy/student_rubric.yaml"  # inside the package: hw9-check's rubric when present
STUDENT_DISTRIBUTION = "hw9-check"
FOLDER = "hw9-check"
_KEEP_PREFIXES = ("test_", "pytest", "__")  # tests left, pytest hooks and marks, dunders
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def withheld_checks(rubric):
    """{"q1.pool2d": "hidden", ...}: the checks a student's self-check must not contain."""
    return {name: item.visibility for name, item in rubric.items.items() if item.visibility != "visible"}


def _defined_name(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _used_names(nodes):
    """Every name the `nodes` read: loaded names, attributes, parameters (fixtures), identifiers in strings."""
    used = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.arg):
                used.add(node.arg)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.update(_IDENTIFIER.findall(node.value))
    return used


def _span(node, lines):
    """The 1-based line range of `node` with its decorators and the comment lines right above it."""
    start = min([node.lineno, *(decorator.lineno for decorator in getattr(node, "decorator_list", ()))])
    while start > 1 and lines[start - 2].lstrip().startswith("#"):
        start -= 1
    return start, node.end_lineno


def strip_checks(source, functions, mentioned_elsewhere=frozenset()):
    """`source` less the top-level `functions`, then less what only they used; return (text, removed names).

    `mentioned_elsewhere`: identifiers other files use (a helper they import stays).
    """
    tree = ast.parse(source)
    removed = {node for node in tree.body if _defined_name(node) in functions}
    while True:
        used = _used_names([node for node in tree.body if node not in removed]) | set(mentioned_elsewhere)
        unused = {
            node for node in tree.body
            if node not in removed and (name := _defined_name(node)) and not name.startswith(_KEEP_PREFIXES) and name not in used
        }
        if not unused:
            break
        removed |= unused
    lines = source.splitlines(keepends=True)
    drop = set()
    for node in removed:
        start, end = _span(node, lines)
        drop.update(range(start, end + 1))
    kept = [line for number, line in enumerate(lines, start=1) if number not in drop]
    text = re.sub(r"\n{4,}", "\n\n\n", "".join(kept))
    ast.parse(text)  # still a module
    return text, sorted(_defined_name(node) for node in removed)


def _replace_points(source, points):
    """The descriptor's source with `points=<number>` of its Question(...) set to `points`."""
    tree = ast.parse(source)
    keywords = [node for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "points" and isinstance(node.value, ast.Constant)]
    if len(keywords) != 1:
        raise bundles.BundleError("a question descriptor must give its points as one literal points=N")
    value = keywords[0].value
    lines = source.splitlines(keepends=True)
    if value.lineno != value.end_lineno:
        raise bundles.BundleError("a question descriptor's points must be on one line")
    line = lines[value.lineno - 1].encode()
    number = f"{points:g}" if points != int(points) else str(int(points))
    lines[value.lineno - 1] = (line[: value.col_offset] + number.encode() + line[value.end_col_offset:]).decode()
    return "".join(lines)


def student_rubric_text(rubric_path):
    """The rubric of the visible checks, with what was withheld counted per question (no names)."""
    data = yaml_data.read(rubric_path)
    rubric = load_rubric(rubric_path)
    withheld = withheld_checks(rubric)
    counts = {}
    for name, visibility in withheld.items():
        row = counts.setdefault(rubric[name].question, {}).setdefault(visibility, {"checks": 0, "points": 0.0})
        row["checks"] += 1
        row["points"] += rubric[name].points
    student = {key: value for key, value in data.items() if key not in ("checks", "withheld")}
    student["checks"] = {name: entry for name, entry in data["checks"].items() if name not in withheld}
    student["withheld"] = counts
    header = (
        "# hw9-check's rubric: the visible checks of the course's rubric. The checks not visible\n"
        "# to students are not in this package; `withheld` counts them per question.\n"
    )
    return header + yaml.safe_dump(student, sort_keys=False)


def student_files(rubric_path):
    """{archive path: bytes}: the package's files for students, and what was removed from each checks file."""
    rubric = load_rubric(rubric_path)
    withheld = withheld_checks(rubric)
    files = bundles.package_files()
    package = layout.PACKAGE_DIR.name
    check_paths = {}
    for question in questions.all_questions():
        for path in question.check_files():
            check_paths[f"{package}/{path.relative_to(layout.PACKAGE_DIR).as_posix()}"] = question
    words = {path: set(_IDENTIFIER.findall(data.decode())) for path, data in files.items()}
    removed = {}
    for path, question in check_paths.items():
        names = {f"test_{name.split('.', 1)[1]}" for name in withheld if rubric[name].question == question.name}
        if not names:
            continue
        mentioned = set().union(*(found for other, found in words.items() if other != path))  # another file may import a helper
        text, gone = strip_checks(files[path].decode(), names, mentioned)
        files[path] = text.encode()
        if gone:
            removed[path] = gone
    for question in questions.all_questions():
        descriptor = f"{package}/questions/{question.name}/__init__.py"
        visible = rubric.max_score(question.name) - sum(rubric[name].points for name in withheld if rubric[name].question == question.name)
        files[descriptor] = _replace_points(files[descriptor].decode(), visible).encode()
    files[STUDENT_RUBRIC] = student_rubric_text(rubric_path).encode()
    return files, removed


STUDENT_README = """# hw9 self-check

Checks your assignment 9 before you hand it in: the visible checks of the course's grader,
with a public seed. Your grade also counts checks that are not here{withheld}.

Install it once (Python {python}; a virtual environment is best):

    python -m venv .venv && . .venv/bin/activate
    pip install -c constraints.txt {wheel}

Then, in the folder holding q1.py ... q4.py (or your notebook):

    hw9-check            # or: hw9-check path/to/folder-or-notebook

It prints your score per question on the checks it ran and the likely mistake behind
each failed check, says what it did not run, and exits 0 only at full marks on what it ran.
Without installing: `PYTHONPATH={folder} python -m graders.deploy.check PATH` (with the
packages of requirements.txt installed).
"""


def build(out_dir, rubric=None):
    """Write the student bundle into `out_dir`; return (the wheel's path, lines to print)."""
    rubric = Path(rubric or layout.DEFAULT_RUBRIC)
    bundles.checked_rubric(rubric)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise bundles.BundleError(f"{out_dir} is not empty: give a new folder")
    files, removed = student_files(rubric)
    info = bundles.project()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = bundles.build_wheel(
        out_dir, files, name=STUDENT_DISTRIBUTION, version=info.version, summary="hw9 self-check: the visible checks of the assignment 9 grader",
        requires_python=info.requires_python, requires_dist=info.dependencies, scripts={"hw9-check": bundles.CONSOLE_SCRIPTS["hw9-check"]},
    )
    folder = out_dir / FOLDER
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    bundles.write_requirements(out_dir, info)
    withheld = withheld_checks(load_rubric(rubric))
    points = sum(load_rubric(rubric)[name].points for name in withheld)
    note = f" ({len(withheld)} checks, {points:g} points)" if withheld else ""
    (out_dir / "README.md").write_text(STUDENT_README.format(withheld=note, python=bundles.python_version(), wheel=wheel.name, folder=FOLDER))
    lines = [f"wrote {out_dir}: {wheel.name}, the same files in {FOLDER}/, README.md for students"]
    lines.append(f"withheld: {len(withheld)} checks worth {points:g} points" if withheld else "withheld: none (every check of the rubric is visible)")
    lines += [f"  {path}: removed {', '.join(names)}" for path, names in sorted(removed.items())]
    return wheel, lines


def remove(out_dir):
    shutil.rmtree(out_dir, ignore_errors=True)
