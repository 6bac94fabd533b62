"""Class-wide figures from the students' results: pass rates per check, common named mistakes.

Named mistakes are read from each failing test's `extra_data.mistake` (and `.also`), which
the judge writes as {"id", "title", "params"}; never from the feedback's text.
"""
import json
from collections import Counter
from dataclasses import dataclass, field

MAX_ID_CHARS = 100


def check_of(case_name):
    """`q2.filter_cv2[blur-uint8-17x23x3]` -> `q2.filter_cv2`."""
    return case_name.split("[", 1)[0]


def lost_points(test):
    return test.get("status") != "passed" or test.get("score", 0) < test.get("max_score", 0) - 1e-9


@dataclass(frozen=True)
class SeenMistake:
    """A named mistake in one test of results.json."""

    id: str
    title: str
    params: dict


def mistakes_of(test):
    """The test's named mistakes, the first foremost; entries that are not well-formed are left out."""
    extra = test.get("extra_data") if isinstance(test, dict) else None
    if not isinstance(extra, dict):
        return []
    also = extra.get("also")
    entries = [extra.get("mistake"), *(also if isinstance(also, list) else [])]
    seen = []
    for entry in entries:
        mistake = _mistake(entry)
        if mistake is not None and mistake not in seen:
            seen.append(mistake)
    return seen


def _mistake(entry):
    if not isinstance(entry, dict):
        return None
    id, title, params = entry.get("id"), entry.get("title"), entry.get("params", {})
    if not isinstance(id, str) or not id.strip() or len(id) > MAX_ID_CHARS:
        return None
    params = params if isinstance(params, dict) else {}
    return SeenMistake(id=id, title=title if isinstance(title, str) else id, params={str(key): value for key, value in params.items()})


def describe_params(params):
    """A finding's parameters as text, e.g. `divisor 16, name blur`; empty when it has none."""
    return ", ".join(f"{key.replace('_', ' ')} {_value(value)}" for key, value in params.items())


def _value(value):
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)


@dataclass
class CheckRate:
    check: str
    cases_passed: int = 0
    cases: int = 0
    students_all_passed: int = 0
    students: int = 0

    @property
    def rate(self):
        return self.cases_passed / self.cases if self.cases else 0.0


def pass_rates(results_by_student):
    """CheckRate per check (sorted by name) over the graded students' results."""
    rates = {}
    for results in results_by_student.values():
        per_check = {}
        for test in results.get("tests", []):
            rate = rates.setdefault(check_of(test["name"]), CheckRate(check_of(test["name"])))
            passed = not lost_points(test)
            rate.cases += 1
            rate.cases_passed += passed
            per_check[rate.check] = per_check.get(rate.check, True) and passed
        for check, all_passed in per_check.items():
            rates[check].students += 1
            rates[check].students_all_passed += all_passed
    return [rates[name] for name in sorted(rates)]


@dataclass
class CommonMistake:
    """One catalogue id over the class: who made it, in which checks, with which parameters."""

    id: str
    title: str
    students: list = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)
    params: list = field(default_factory=list)  # describe_params() of each distinct parameter set, in first-seen order


def common_mistakes(results_by_student, limit=20):
    """The named mistakes (by id) seen in the most students' failing checks, most frequent first."""
    mistakes = {}
    for student in sorted(results_by_student):
        for test in results_by_student[student].get("tests", []):
            if not lost_points(test):
                continue
            for seen in mistakes_of(test):
                mistake = mistakes.setdefault(seen.id, CommonMistake(seen.id, seen.title))
                if not mistake.students or mistake.students[-1] != student:
                    mistake.students.append(student)
                mistake.checks[check_of(test["name"])] += 1
                described = describe_params(seen.params)
                if described and described not in mistake.params:
                    mistake.params.append(described)
    ranked = sorted(mistakes.values(), key=lambda mistake: (-len(mistake.students), mistake.id))
    return ranked[:limit]
