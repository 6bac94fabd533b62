"""Print the Python that scripts/setup.sh should build .venv with: the fastest one here.

    python3 scripts/pick_python.py            # the chosen interpreter's path on stdout
    python3 scripts/pick_python.py --table    # every candidate and its time

Most of a grading's CPU time is the interpreter running Keras, pytest and the harness, so
the interpreter matters: a CPython built without profile-guided optimisation (as pyenv
builds it by default) runs the same code markedly slower than a distribution's optimised
build. Every `python3` and `python3.N` on PATH that can make a virtual environment and
that the grader's libraries support runs the same pure-Python probe, taking turns, and
the one with the best time wins. PYTHON=... in setup.sh's environment skips the choice.
"""
import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace

SUPPORTED = ((3, 11), (3, 13))  # pyproject's requires-python; the newest TensorFlow 2.21 has wheels for
PROBE_TIMEOUT_S = 60
ROUNDS = 5  # the candidates take turns, so that the machine's drift hits them alike
IDENTIFY = (
    "import json, os, sys, importlib.util as u; print(json.dumps({'executable': os.path.realpath(sys.executable), "
    "'version': list(sys.version_info[:3]), 'can_make_venv': all(u.find_spec(m) for m in ('venv', 'ensurepip'))}))"
)
# The same pure-Python work in every candidate (calls, objects, JSON), timed by CPU time.
PROBE = r"""
import json, time
def calls(n):
    total = 0
    for i in range(n):
        total += len(str(i)) + (i % 7)
    return total
class Point:
    def __init__(self, x): self.x = x
    def moved(self): return self.x + 1
data = {"a": [1, 2, {"b": "c" * 10}] * 50}
started = time.process_time()
calls(300_000)
sum(Point(i).moved() for i in range(150_000))
for _ in range(400):
    json.loads(json.dumps(data))
print(time.process_time() - started)
"""


@dataclass(frozen=True)
class Candidate:
    executable: str
    version: tuple
    can_make_venv: bool
    seconds: float = float("inf")  # the probe's best time, once measured

    def usable(self):
        return self.can_make_venv and SUPPORTED[0] <= self.version[:2] <= SUPPORTED[1]

    def row(self):
        why_not = "" if self.usable() else (" (no venv module)" if not self.can_make_venv else " (unsupported version)")
        timing = f"{self.seconds:.3f} s" if self.seconds != float("inf") else "not timed"
        return f"{self.executable} {'.'.join(map(str, self.version))}: {timing}{why_not}"


def commands_on_path(path=None):
    """Every python3 and python3.N (N in the supported range) on PATH, first found first, each file once."""
    names = ["python3", *(f"python3.{minor}" for minor in range(SUPPORTED[0][1], SUPPORTED[1][1] + 1))]
    found = {}
    for folder in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        for name in names:
            command = os.path.join(folder, name)
            if folder and os.access(command, os.X_OK) and not os.path.isdir(command):
                found.setdefault(os.path.realpath(command), command)
    return list(found.values())


def _run(command, code):
    """The last line `code` printed in `command`, or None where it did not run."""
    try:
        done = subprocess.run([command, "-c", code], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[-1] if done.returncode == 0 and lines else None


def identify(command):
    """The interpreter `command` runs (a pyenv shim runs another), or None."""
    try:
        facts = json.loads(_run(command, IDENTIFY) or "null")
        return Candidate(facts["executable"], tuple(facts["version"]), bool(facts["can_make_venv"]))
    except (TypeError, KeyError, ValueError):
        return None


def timed(candidates, rounds=ROUNDS):
    """The candidates with their best probe time over `rounds` turns each."""
    best = {candidate.executable: float("inf") for candidate in candidates}
    for _ in range(rounds):
        for executable in best:
            try:
                best[executable] = min(best[executable], float(_run(executable, PROBE)))
            except (TypeError, ValueError):
                pass
    return [replace(candidate, seconds=best[candidate.executable]) for candidate in candidates]


def choose(candidates):
    """The fastest usable candidate, or None; with one usable, that one."""
    usable = [candidate for candidate in candidates if candidate.usable()]
    if len(usable) == 1:
        return usable[0]
    return min(usable, key=lambda candidate: candidate.seconds, default=None)


def survey(path=None):
    """Each interpreter on `path` (PATH) once; the usable ones timed where there is a choice."""
    found = {}
    for command in commands_on_path(path):
        candidate = identify(command)
        if candidate is not None:
            found.setdefault(candidate.executable, candidate)
    usable = [candidate for candidate in found.values() if candidate.usable()]
    if len(usable) > 1:
        found.update((candidate.executable, candidate) for candidate in timed(usable))
    return list(found.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print every candidate and its probe time to stderr")
    args = parser.parse_args(argv)
    candidates = survey()
    chosen = choose(candidates)
    if args.table or chosen is None:
        for candidate in candidates:
            print(("* " if candidate is chosen else "  ") + candidate.row(), file=sys.stderr)
    if chosen is None:
        print(f"pick_python: no Python {'.'.join(map(str, SUPPORTED[0]))}-{'.'.join(map(str, SUPPORTED[1]))} with the venv module on PATH", file=sys.stderr)
        return 1
    print(chosen.executable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
