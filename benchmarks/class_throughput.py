"""Grade N copies of the reference with hw9-grade and print what it cost: wall, CPU, per submission.

    .venv/bin/python -m benchmarks.class_throughput --copies 8 --jobs 1 --jobs 2
    .venv/bin/python -m benchmarks.class_throughput --tree ../other-checkout --label before

Every configuration is graded in a fresh class folder and `--out`, in the order given, one
after the other, so figures measured in one invocation are side by side. CPU is everything
hw9-grade and its descendants used (their rusage once hw9-grade has exited), the preloading
process included; per submission it is that total divided by the copies. `--tree` grades
with another checkout's code (its `graders` first on PYTHONPATH, its reference, its rubric),
with this interpreter; `--hw9-grade-args` passes options through (e.g. `--no-preload`).
"""
import argparse
import csv
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
QUESTION_FILES = ("q1.py", "q2.py", "q3.py", "q4.py")


@dataclass(frozen=True)
class Measured:
    label: str
    copies: int
    jobs: int
    wall: float
    cpu: float

    def row(self):
        per = self.wall / self.copies
        return (f"| {self.label} | {self.copies} | {self.jobs} | {self.wall:.1f} | {per:.2f} | {per * self.jobs:.2f} "
                f"| {self.cpu:.1f} | {self.cpu / self.copies:.2f} |")


HEADER = ("| configuration | copies | jobs | wall s | wall s per submission | per core | CPU s | CPU s per submission |\n"
          "|---|---|---|---|---|---|---|---|")


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(tree, copies, jobs, extra, scratch):
    """Grade `copies` copies of `tree`'s reference with `jobs` judges; (wall seconds, CPU seconds)."""
    klass = scratch / f"class-{jobs}-{time.monotonic_ns()}"
    for index in range(copies):
        student = klass / f"student{index:03d}"
        student.mkdir(parents=True)
        for name in QUESTION_FILES:
            shutil.copyfile(tree / "solutions" / name, student / name)
    env = dict(os.environ, PYTHONPATH=str(tree), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "graders.batch.cli", str(klass), "--out", str(klass.with_suffix(".out")),
               "--jobs", str(jobs), "--force", *extra]
    cpu_before, started = _children_cpu(), time.monotonic()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"hw9-grade exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    with open(klass.with_suffix(".out") / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    wrong = [row for row in rows if row["status"] != "graded" or float(row["total"]) != 100]
    if len(rows) != copies or wrong:
        raise SystemExit(f"the reference was not graded 100 {copies} times: {wrong or rows}")
    return wall, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the reference in the class (default 8)")
    parser.add_argument("--jobs", type=int, action="append", help="hw9-grade --jobs; repeat for several runs (default 1 and 2)")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout whose code grades (default this one)")
    parser.add_argument("--label", default="", help="the configuration's name in the table (default the tree's folder)")
    parser.add_argument("--hw9-grade-args", default="", help="more hw9-grade options, e.g. '--no-preload'")
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got --copies={args.copies}")
    tree = args.tree.resolve()
    label = args.label or tree.name
    with tempfile.TemporaryDirectory(prefix="hw9-throughput-") as scratch:
        rows = []
        for jobs in args.jobs or [1, 2]:
            wall, cpu = grade(tree, args.copies, jobs, shlex.split(args.hw9_grade_args), Path(scratch))
            rows.append(Measured(label, args.copies, jobs, wall, cpu))
            print(rows[-1].row(), flush=True)
    print(HEADER)
    print("\n".join(row.row() for row in rows))
    if len(rows) > 1 and rows[0].jobs == 1:
        for row in rows[1:]:
            print(f"speed-up from 1 to {row.jobs} jobs: {rows[0].wall / row.wall:.2f}x")


if __name__ == "__main__":
    main()
