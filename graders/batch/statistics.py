"""Class-wide figures from the students' results: pass rates per check, common named mistakes."""
from collections import Counter
from dataclasses import dataclass, field

MISTAKE_PREFIX = "Likely mistake:"


def check_of(case_name):
    """`q2.filter_cv2[blur-uint8-17x23x3]` -> `q2.filter_cv2`."""
    return case_name.split("[", 1)[0]


def lost_points(test):
    return test.get("status") != "passed" or test.get("score", 0) < test.get("max_score", 0) - 1e-9


def named_mistakes(output):
    """The `Likely mistake:` lines of one check's feedback, without the prefix."""
    return [line.strip()[len(MISTAKE_PREFIX):].strip() for line in output.splitlines() if line.strip().startswith(MISTAKE_PREFIX)]


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
class Mistake:
    text: str
    students: list = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)


def common_mistakes(results_by_student, limit=20):
    """The named mistakes seen in the most students' failing checks, most frequent first."""
    mistakes = {}
    for student in sorted(results_by_student):
        for test in results_by_student[student].get("tests", []):
            if not lost_points(test):
                continue
            for text in named_mistakes(test.get("output", "")):
                mistake = mistakes.setdefault(text, Mistake(text))
                if not mistake.students or mistake.students[-1] != student:
                    mistake.students.append(student)
                mistake.checks[check_of(test["name"])] += 1
    ranked = sorted(mistakes.values(), key=lambda mistake: (-len(mistake.students), mistake.text))
    return ranked[:limit]
