"""Grade N copies of the reference with hw9-grade and print what it cost: wall, CPU, per submission.

    .venv/bin/python -m benchmarks.class_throughput --copies 8 --jobs 1 --jobs 2 --rounds 3
    .venv/bin/python -m benchmarks.class_throughput --tree ../other-checkout --label before --modes warm

Both worker modes by default: warm (forked from hw9-grade's fork server) and cold
(`--no-warm-workers`, fresh interpreters), with the ratio of the two and each mode's
speed-up from one job to more. Every configuration is graded in a fresh class folder and
`--out`, one after the other, so figures measured in one invocation are side by side;
with `--rounds N` the configurations run N times interleaved and the table shows each
one's run of median CPU (a shared machine's speed drifts by tens of percent in minutes). CPU is everything
hw9-grade and its descendants used (their rusage once hw9-grade has exited), the preloading
process included; per submission it is that total divided by the copies. Per submission per
core is the wall time times all the machine's cores over the copies, as hw9-grade prints it. `--tree` grades
with another checkout's code (its `graders` first on PYTHONPATH, its reference, its rubric),
with this interpreter; `--hw9-grade-args` passes options through (e.g. `--no-preload`).
Each run's wall time is also split in three, from the records' start times: launch to the
first grading's start (one interpreter start and the libraries' import, which no number of
jobs shortens), the gradings, and the last one's end to exit (the gradebook and report).
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
from dataclasses import astuple, dataclass
from pathlib import Path

from graders.batch import store
from graders.batch.command import per_submission_per_core
from graders.batch.processes import available_cores

HERE = Path(__file__).resolve().parents[1]
QUESTION_FILES = ("q1.py", "q2.py", "q3.py", "q4.py")


@dataclass(frozen=True)
class Phases:
    """A run's wall time in three: launch to the first grading's start, the gradings, the last one's end to exit."""

    start: float
    gradings: float
    end: float

    @classmethod
    def of(cls, records, launched, wall):
        """From the records' start times and durations; None where a record does not say when it started."""
        if not records or any(not record.started_at for record in records):
            return None
        first = min(record.started_at for record in records)
        last = max(record.started_at + record.seconds for record in records)
        return cls(first - launched, last - first, launched + wall - last)


@dataclass(frozen=True)
class Measured:
    label: str
    copies: int
    jobs: int
    wall: float
    cpu: float
    phases: Phases = None

    def row(self):
        per = self.wall / self.copies
        phases = " | ".join(f"{value:.1f}" for value in astuple(self.phases)) if self.phases else "- | - | -"
        per_core = per_submission_per_core(self.wall, self.copies, available_cores())
        return (f"| {self.label} | {self.copies} | {self.jobs} | {self.wall:.1f} | {per:.2f} | {per_core:.2f} "
                f"| {self.cpu:.1f} | {self.cpu / self.copies:.2f} | {phases} |")


HEADER = ("| configuration | copies | jobs | wall s | wall s per submission | per submission per core (all cores) | CPU s | CPU s per submission "
          "| launch to first grading s | gradings s | last grading to exit s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(tree, copies, jobs, extra, scratch):
    """Grade `copies` copies of `tree`'s reference with `jobs` judges; (wall seconds, CPU seconds, Phases or None)."""
    klass = scratch / f"class-{jobs}-{time.monotonic_ns()}"
    for index in range(copies):
        student = klass / f"student{index:03d}"
        student.mkdir(parents=True)
        for name in QUESTION_FILES:
            shutil.copyfile(tree / "solutions" / name, student / name)
    env = dict(os.environ, PYTHONPATH=str(tree), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "graders.batch.cli", str(klass), "--out", str(klass.with_suffix(".out")),
               "--jobs", str(jobs), "--force", *extra]
    cpu_before, started, launched = _children_cpu(), time.monotonic(), time.time()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"hw9-grade exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    with open(klass.with_suffix(".out") / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    wrong = [row for row in rows if row["status"] != "graded" or float(row["total"]) != 100]
    if len(rows) != copies or wrong:
        raise SystemExit(f"the reference was not graded 100 {copies} times: {wrong or rows}")
    return wall, cpu, Phases.of(list(store.load_records(store.Layout(klass.with_suffix(".out"))).values()), launched, wall)


MODES = {"warm": [], "cold": ["--no-warm-workers"]}  # hw9-grade's workers: forked from its fork server, or fresh interpreters


def median_run(runs):
    """The run of median CPU time among repeated runs of one configuration (the lower middle one)."""
    return sorted(runs, key=lambda run: run.cpu)[(len(runs) - 1) // 2]


def ratios(rows):
    """Lines comparing `{(mode, jobs): Measured}`: cold against warm for each --jobs, one job against more for each mode."""
    lines = []
    for (mode, jobs), row in rows.items():
        warm = rows.get(("warm", jobs))
        if mode == "cold" and warm is not None:
            lines.append(f"cold / warm, {jobs} job(s): wall {row.wall / warm.wall:.2f}x, CPU {row.cpu / warm.cpu:.2f}x")
    for (mode, jobs), row in rows.items():
        single = rows.get((mode, 1))
        if jobs > 1 and single is not None:
            line = f"{mode}: speed-up from 1 to {jobs} jobs: {single.wall / row.wall:.2f}x"
            if single.phases and row.phases:
                line += (f" (the gradings alone: {single.phases.gradings / row.phases.gradings:.2f}x; launch to first grading "
                         f"{single.phases.start:.1f} and {row.phases.start:.1f} s)")
            lines.append(line)
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the reference in the class (default 8)")
    parser.add_argument("--jobs", type=int, action="append", help="hw9-grade --jobs; repeat for several runs (default 1 and 2)")
    parser.add_argument("--modes", default="warm,cold", help="worker modes, in order: warm (the default), cold (--no-warm-workers) (default warm,cold)")
    parser.add_argument("--rounds", type=int, default=1, help="times every configuration is run, interleaved; the run of median CPU is shown (default 1)")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout whose code grades (default this one)")
    parser.add_argument("--label", default="", help="prefix of the configurations' names in the table (default the tree's folder)")
    parser.add_argument("--hw9-grade-args", default="", help="more hw9-grade options, e.g. '--no-preload'")
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got --copies={args.copies}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got --rounds={args.rounds}")
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in MODES]
    if not modes or unknown:
        parser.error(f"--modes takes {' and '.join(MODES)}, got --modes={args.modes!r}")
    tree = args.tree.resolve()
    label = args.label or tree.name
    configurations = [(mode, jobs) for mode in modes for jobs in args.jobs or [1, 2]]
    runs = {configuration: [] for configuration in configurations}
    with tempfile.TemporaryDirectory(prefix="hw9-throughput-") as scratch:
        for _ in range(args.rounds):  # interleaved: a machine that slows down for a while slows every configuration
            for mode, jobs in configurations:
                wall, cpu, phases = grade(tree, args.copies, jobs, [*MODES[mode], *shlex.split(args.hw9_grade_args)], Path(scratch))
                runs[mode, jobs].append(Measured(f"{label} {mode}", args.copies, jobs, wall, cpu, phases))
                print(runs[mode, jobs][-1].row(), flush=True)
    rows = {configuration: median_run(measured) for configuration, measured in runs.items()}
    print(f"\n{'the run of median CPU of ' + str(args.rounds) + ' per configuration' if args.rounds > 1 else 'one run per configuration'}:")
    print(HEADER)
    print("\n".join(row.row() for row in rows.values()))
    print("\n".join(ratios(rows)))


if __name__ == "__main__":
    main()
