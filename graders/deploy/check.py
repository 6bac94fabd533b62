"""`hw9-check [PATH]`: a student's self-check before handing in.

Grades PATH (default `.`: a folder of q1.py..q4.py, a .zip of one, or a notebook) with the
rubric's visible checks only and the public seed (graders.deploy.bundles.PUBLIC_SEED),
whatever the environment or a configuration file says: never a hidden check, never the
private grading seed. Prints the per-question table of what it ran, each failed check
with its likely mistake, and what it did not run; exits 0 only at full marks on what it
ran (1 when points were lost, 2 when nothing could be graded).

The rubric is the one shipped in a student bundle (graders/deploy/student_rubric.yaml,
written by `hw9-grade bundle student`), else the checkout's fixtures/rubric.yaml, else
`--rubric FILE`.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from graders import layout, questions
from graders.deploy import grade, tables
from graders.deploy.bundles import PUBLIC_SEED

PACKAGED_RUBRIC = Path(__file__).with_name("student_rubric.yaml")
OUTPUT_LINES = 6  # of each failed check's feedback
WHY = {"slow": "trains on CIFAR-10", "gpu": "needs a GPU"}


def find_rubric(explicit=None):
    for candidate in (explicit, PACKAGED_RUBRIC, layout.DEFAULT_RUBRIC):
        if candidate is not None and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError("no rubric found: pass --rubric FILE")


def _withheld(rubric_path, check_notes, wanted):
    """{(question, visibility): [checks, points]} of the checks not run because students do not see them."""
    import yaml

    from graders.judge import yaml_data

    counts = {}
    try:
        shipped = yaml_data.read(rubric_path).get("withheld") or {}
    except (OSError, AttributeError, yaml.YAMLError):
        shipped = {}
    for question, by_visibility in shipped.items():
        for visibility, row in (by_visibility or {}).items():
            entry = counts.setdefault((question, visibility), [0, 0.0])
            entry[0] += int(row.get("checks", 0))
            entry[1] += float(row.get("points", 0.0))
    for row in (check_notes.get("withheld") or {}).values():
        entry = counts.setdefault((row["question"], row["visibility"]), [0, 0.0])
        entry[0] += 1
        entry[1] += float(row["points"])
    return {key: value for key, value in sorted(counts.items()) if not wanted or key[0] in wanted}


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def not_run_lines(rubric_path, check_notes, wanted):
    lines = []
    for (question, visibility), (checks, points) in _withheld(rubric_path, check_notes, wanted).items():
        lines.append(f"  {question}: {_plural(checks, 'check')} worth {points:g} points, {tables.WITHHELD_WORDS.get(visibility, visibility)}: graded only by your instructor")
    unselected = {name: row for name, row in (check_notes.get("unselected") or {}).items() if not wanted or row["question"] in wanted}
    for name, row in sorted(unselected.items()):
        reasons = " and ".join(WHY.get(marker, marker) for marker in row["markers"])
        lines.append(f"  {name}: {reasons} ({row['points']:g} points)")
    if wanted:
        others = [name for name in questions.names() if name not in wanted]
        if others:
            lines.append(f"  {', '.join(others)}: not asked for (--questions)")
    return lines


def _case(name):
    return name[name.index("["):] if "[" in name else ""


def _feedback(test):
    lines = [line for line in str(test.get("output", "")).splitlines() if line.strip() and not line.startswith("Likely mistake:")]
    return [f"      {line}" for line in lines[:OUTPUT_LINES]] + (["      ..."] if len(lines) > OUTPUT_LINES else [])


def failure_lines(tests):
    """Each failed check once: its failing cases, its likely mistake, the first case's feedback.

    A question all of whose cases failed with one message (its file is missing) is one line.
    """
    failed = [test for test in tests if test.get("status") != "passed"]
    lines, done = [], set()
    for question, row in tables.rows(tests).items():
        group = [test for test in failed if tables.question_of(test.get("name", "")) == question]
        messages = {str(test.get("output", "")).strip() for test in group}
        if len(group) > 1 and len(group) == row.cases and len(messages) == 1:
            lines.append(f"  {question}: all {row.cases} checks: {messages.pop().splitlines()[0] if group[0].get('output') else 'failed'}")
            done.update(id(test) for test in group)
    groups = {}
    for test in failed:
        if id(test) in done:
            continue
        name = test.get("name", "")
        mistake = (test.get("extra_data") or {}).get("mistake") or {}
        groups.setdefault((name.split("[", 1)[0], mistake.get("id") or ""), []).append(test)
    for (check, _), group in groups.items():
        mistake = (group[0].get("extra_data") or {}).get("mistake") or {}
        title = f": likely mistake: {mistake['title']}" if mistake.get("title") else ""
        cases = [_case(test.get("name", "")) for test in group]
        label = check + cases[0] if len(group) == 1 else f"{check} ({len(group)} cases: {' '.join(cases)})"
        lines.append(f"  {label}{title}")
        lines += _feedback(group[0])
    return lines


def report(graded, rubric_path, wanted=(), out=None):
    """Print what the self-check found; return the exit status."""
    out = out or sys.stdout
    for note in graded.notes:
        print(f"note: {note}", file=out)
    if graded.results is None:
        print(f"hw9-check: {graded.error}", file=out)
        return 2
    tests = graded.results.get("tests", [])
    print(*tables.table_lines(tests), sep="\n", file=out)
    failures = failure_lines(tests)
    if failures:
        failed = sum(test.get("status") != "passed" for test in tests)
        print(f"\n{_plural(failed, 'failed case')}:", *failures, sep="\n", file=out)
    not_run = not_run_lines(rubric_path, graded.check_notes, wanted)
    if not_run:
        print("\nNot run here:", *not_run, sep="\n", file=out)
    hw9 = (graded.results.get("extra_data") or {}).get("hw9") or {}
    problems = []
    if graded.error:
        problems.append(graded.error)
    if hw9.get("internal_errors"):
        problems.append(f"the checker itself failed in {', '.join(hw9['internal_errors'])} (not your mistake)")
    if hw9.get("disturbed"):
        problems.append(f"the run was disturbed: {hw9['disturbed']}")
    score, top = float(graded.results.get("score", 0.0)), float(graded.results.get("max_score", sum(t.get("max_score", 0) for t in tests)))
    print(file=out)
    for problem in problems:
        print(f"hw9-check: {problem}", file=out)
    if not tests:
        print("hw9-check: no check ran", file=out)
        return 2
    if problems:
        return 2
    if all(test.get("status") == "passed" for test in tests):
        counted_elsewhere = wanted or _withheld(rubric_path, graded.check_notes, wanted)
        print(f"hw9-check: full marks on the {top:g} points checked here{' (your grade also counts the checks not run here)' if counted_elsewhere else ''}.", file=out)
        return 0
    print(f"hw9-check: {score:g} of the {top:g} points checked here; fix the failed checks above.", file=out)
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="hw9-check", description="Self-check assignment 9 with the visible checks (public seed); hidden checks are not run.")
    parser.add_argument("path", nargs="?", default=".", type=Path, help="folder of q1.py..q4.py, a .zip of one, or a notebook (default: .)")
    parser.add_argument("--questions", help="check only these questions, e.g. q1,q3")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: the one this package ships)")
    parser.add_argument("--verbose", "-v", action="store_true", help="also show pytest's own output")
    args = parser.parse_args(argv)
    wanted = tuple(name.strip() for name in (args.questions or "").split(",") if name.strip())
    try:
        for name in wanted:
            questions.get(name)
        rubric = find_rubric(args.rubric)
    except (ValueError, FileNotFoundError) as error:
        print(f"hw9-check: {error}", file=sys.stderr)
        return 2
    print(f"hw9-check: {args.path} with the visible checks and the public seed {PUBLIC_SEED}", flush=True)
    grading = grade.Grading(rubric=rubric, grading_seed=PUBLIC_SEED, questions=wanted, visible_only=True)
    with tempfile.TemporaryDirectory(prefix="hw9-check-") as folder:
        log_path = Path(folder) / "pytest.log"
        with open(log_path, "w") as log:
            graded = grade.run(args.path, grading, Path(folder) / "results.json", output=None if args.verbose else log)
        if graded.results is None and not args.verbose and graded.returncode not in (0, 1):
            print(log_path.read_text()[-3000:], file=sys.stderr)
    return report(graded, rubric, wanted)


if __name__ == "__main__":
    sys.exit(main())
