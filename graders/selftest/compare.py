"""A grade against its expectation: the readable differences between them."""
import enum
from dataclasses import dataclass

from graders.batch.results import question_name, question_scores
from graders.selftest.expectations import QUESTIONS

SCORE_TOLERANCE = 0.01


class DifferenceKind(enum.Enum):
    UNLISTED = "unlisted"  # a check failed that expected.yaml does not list
    UNKNOWN = "unknown"  # a listed key names nothing graded
    PASSED = "passed"  # a listed check did not fail
    KEYWORD = "keyword"  # a listed check's feedback lacks its keyword
    SCORE = "score"  # a question's points are off
    GRADING = "grading"  # the grading itself did not finish


@dataclass(frozen=True)
class Difference:
    """One disagreement between a grade and its expectation."""

    kind: DifferenceKind
    text: str

    def __str__(self):
        return self.text


def _check(case_name):
    return case_name.split("[", 1)[0]


def _matches(key, case_name):
    if "." not in key:
        return question_name(case_name) == key
    return key == case_name if "[" in key else key == _check(case_name)


def excerpt(text, limit=300):
    """`text` on one line, cut at `limit` characters."""
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit] + " ..."


def _lost_points(test):
    return test.get("status") != "passed" or test.get("score", 0) < test.get("max_score", 0) - 1e-9


def _listed(results, expected, failed):
    """Differences in the checks expected.yaml lists as failing."""
    tests = results.get("tests", [])
    for key, keywords in expected.failing.items():
        matched = [test["name"] for test in tests if _matches(key, test["name"])]
        if not matched:
            yield Difference(DifferenceKind.UNKNOWN, f"{key} is listed as failing but no graded check or case has that name")
            continue
        outputs = [failed[name] for name in matched if name in failed]
        if not outputs:
            listed = ", ".join(map(repr, keywords))
            yield Difference(DifferenceKind.PASSED, f"{key} is listed as failing ({listed}) but all {len(matched)} of its cases passed")
            continue
        feedback = "\n".join(outputs).lower()
        for keyword in keywords:
            if keyword.lower() not in feedback:
                yield Difference(DifferenceKind.KEYWORD, f"{key}: keyword {keyword!r} not in the feedback of its failing cases: {excerpt(outputs[0])}")


def compare(results, expected, absent_questions=()):
    """Differences between a Gradescope results dict and an Expectation.

    Failures of `absent_questions` (the entry has no module for them) need no listing:
    they are the "missing" failures every partial entry has, and their scores are checked.
    """
    failed = {test["name"]: test.get("output", "") for test in results.get("tests", []) if _lost_points(test)}
    differences = [
        Difference(DifferenceKind.UNLISTED, f"{name} failed but expected.yaml does not list it: {excerpt(output)}")
        for name, output in failed.items()
        if question_name(name) not in absent_questions and not any(_matches(key, name) for key in expected.failing)
    ]
    differences += _listed(results, expected, failed)
    scores = question_scores(results)
    for question in QUESTIONS:
        got, want = scores.get(question, 0.0), expected.scores[question]
        if abs(got - want) > SCORE_TOLERANCE:
            differences.append(Difference(DifferenceKind.SCORE, f"{question} scored {got:g}, expected.yaml says {want:g}"))
    return differences
