"""The rubric: one entry of points, visibility and time limit per check.

`fixtures/rubric.yaml` is the default; an instructor moves points between a question's
checks there (or in a rubric of the course's own, `--rubric`). Every check a question
package defines must have an entry, every entry a check, and a question's entries add up
to the points its descriptor gives it.
"""
from dataclasses import dataclass
from pathlib import Path

from graders.judge import yaml_data
from graders.judge.settings import CALL_TIMEOUT_S, IMPORT_TIMEOUT_S

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(Exception):
    """The rubric file is inconsistent with itself or with the checks."""


@dataclass(frozen=True)
class RubricItem:
    """One graded check: `q1.pool2d_golden` worth `points`, split over its cases."""

    name: str
    points: float
    visibility: str = "visible"
    timeout: float = CALL_TIMEOUT_S
    description: str = ""

    @property
    def question(self):
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Rubric:
    items: dict
    import_timeout: float
    path: Path

    def __getitem__(self, name):
        return self.items[name]

    def questions(self):
        return sorted({item.question for item in self.items.values()})

    def max_score(self, question=None):
        return sum(item.points for item in self.items.values() if question in (None, item.question))

    def check_against(self, check_names, questions):
        """Raise RubricError unless the checks and the entries are the same set and each question's points add up."""
        missing = sorted(set(check_names) - set(self.items))
        unused = sorted(set(self.items) - set(check_names))
        problems = []
        if missing:
            problems.append(f"checks with no rubric entry: {', '.join(missing)}")
        if unused:
            problems.append(f"rubric entries with no check: {', '.join(unused)}")
        for question in questions:
            total = self.max_score(question.name)
            if abs(total - question.points) > 1e-9:
                problems.append(f"the {question.name} entries add up to {total:g} points, its descriptor gives it {question.points:g}")
        if problems:
            raise RubricError(f"{self.path}: " + "; ".join(problems))


def load_rubric(path):
    path = Path(path)
    data = yaml_data.read(path)
    if not isinstance(data, dict) or not isinstance(data.get("checks"), dict):
        raise RubricError(f"{path}: expected a mapping with a 'checks' section")
    defaults = data.get("defaults", {})
    items = {}
    for name, entry in data["checks"].items():
        entry = {**defaults, **(entry or {})}
        if "points" not in entry or not isinstance(entry["points"], (int, float)) or entry["points"] < 0:
            raise RubricError(f"{path}: check {name} needs non-negative points, got {entry.get('points')!r}")
        if entry.get("visibility", "visible") not in VISIBILITIES:
            raise RubricError(f"{path}: check {name} has visibility {entry['visibility']!r}, not one of {VISIBILITIES}")
        if "." not in name:
            raise RubricError(f"{path}: check name {name!r} must look like 'q1.some_check'")
        items[name] = RubricItem(name=name, **entry)
    return Rubric(items=items, import_timeout=float(data.get("import_timeout", IMPORT_TIMEOUT_S)), path=path)
