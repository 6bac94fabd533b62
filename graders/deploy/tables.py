"""The per-question score table of a results.json, for everyone or for what a student may see."""
from dataclasses import dataclass

WITHHELD_WORDS = {
    "hidden": "hidden (never shown)",
    "after_due_date": "shown after the due date",
    "after_published": "shown when grades are published",
}


def _fmt(number):
    return f"{number:.2f}".rstrip("0").rstrip(".")


def question_of(test_name):
    return test_name.split(".", 1)[0]


@dataclass
class Row:
    score: float = 0.0
    max_score: float = 0.0
    passed: int = 0
    cases: int = 0


def rows(tests):
    """{question: Row} over `tests` (Gradescope test entries), questions sorted."""
    table = {}
    for test in tests:
        row = table.setdefault(question_of(test.get("name", "")), Row())
        row.score += float(test.get("score", 0.0))
        row.max_score += float(test.get("max_score", 0.0))
        row.cases += 1
        row.passed += test.get("status") == "passed"
    return dict(sorted(table.items()))


def table_lines(tests):
    """The table the grading plugin prints: score and checks passed per question, then the total."""
    table = rows(tests)
    lines = [f"{'question':<10}{'score':>16}{'checks passed':>16}"]
    for question, row in table.items():
        lines.append(f"{question:<10}{_fmt(row.score) + '/' + _fmt(row.max_score):>16}{row.passed:>10}/{row.cases:<5}")
    score, top = sum(row.score for row in table.values()), sum(row.max_score for row in table.values())
    lines.append(f"{'total':<10}{_fmt(score) + '/' + _fmt(top):>16}")
    return lines


def withheld_lines(tests):
    """One line per kind of test a student does not see now: how many cases and points."""
    counts = {}
    for test in tests:
        visibility = test.get("visibility", "visible")
        if visibility != "visible":
            cases, points = counts.get(visibility, (0, 0.0))
            counts[visibility] = (cases + 1, points + float(test.get("max_score", 0.0)))
    return [
        f"Not in this table: {cases} check case{'s' if cases != 1 else ''} worth {_fmt(points)} points, {WITHHELD_WORDS.get(visibility, visibility)}."
        for visibility, (cases, points) in sorted(counts.items())
    ]


def student_table_lines(tests):
    """The table over the visible tests only, and what it leaves out: a student's view of the grade."""
    visible = [test for test in tests if test.get("visibility", "visible") == "visible"]
    return [*table_lines(visible), *withheld_lines(tests)]
