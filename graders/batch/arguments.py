"""hw9-grade's command line: its options, their help, its exit codes (written once, here)."""
import argparse
import enum
import math
from dataclasses import dataclass
from pathlib import Path

from graders import layout as project_layout, questions
from graders.batch import judges
from graders.batch.processes import available_cores
from graders.judge.settings import WORKER_MEMORY_GB

DEFAULT_TIMEOUT = 600.0


class ExitCode(enum.IntEnum):
    """hw9-grade's exit status; when several apply, the first listed in EPILOG wins."""

    GRADED = 0  # every submission graded, none below --fail-under
    BELOW_FAIL_UNDER = 1
    USAGE = 2  # argparse's own code
    NOT_GRADED = 3  # a submission is invalid, timed out or crashed
    INTERNAL_ERROR = 4  # hw9-grade itself failed (graders/batch/cli.py)
    INTERRUPTED = 130


EPILOG = """\
exit codes (the first that applies):
  2    usage error, nothing graded: bad arguments, an unusable --out or --rubric,
       another hw9-grade writing to --out, workers below --require-sandbox
  130  interrupted (Ctrl-C, SIGTERM): what was graded stays, the next run grades the rest
  4    hw9-grade itself failed (a traceback says where)
  3    a submission was not graded: invalid, timeout or crashed
  1    with --fail-under SCORE: a graded submission's total is below SCORE
  0    every submission graded (and, with --fail-under, none below it)
The codes 3 and 1 count every submission named here, those already graded included.

environment:
  HW9_CIFAR10  the CIFAR-10 data the --slow checks train on (a file or folder); the
               judges inherit it. Without it those checks skip, saying where they looked.
               With --cluster a file is sent once to every GPU node that grades them; a
               folder must be at the same path on every node.
  RAY_ADDRESS  the cluster `--cluster ray` joins (else Ray starts one on this machine).
  The single-submission run's settings variables (HW9_RUBRIC, HW9_WORKER_MEMORY_GB, ...)
  are not passed to the judges: hw9-grade's options set them, so the fingerprint knows.
"""


@dataclass(frozen=True)
class ClusterSpec:
    """What `--cluster` names: Ray at `address` ("": $RAY_ADDRESS, else a Ray started here)."""

    address: str = ""

    @property
    def label(self):
        return f"ray:{self.address}" if self.address else "ray"


def parse_cluster(text):
    """argparse type of --cluster: `ray` or `ray:ADDRESS`."""
    kind, _, address = text.partition(":")
    if kind != "ray" or (_ and not address.strip()):
        raise argparse.ArgumentTypeError(f"expected ray or ray:ADDRESS (ray:10.0.0.5:6379, ray:auto), got {text!r}")
    return ClusterSpec(address.strip())


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def _questions(text):
    wanted = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in wanted if name not in questions.names()]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"expected questions among {','.join(questions.names())}, got {text!r}")
    return wanted


def _number(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return value


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog="hw9-grade",
        description="Grade many hw9 submissions in parallel into DIR/gradebook.csv, DIR/report.html and "
        "a Gradescope results.json per student (DIR/students/<id>/). Re-running with the same --out "
        "grades only what is new or changed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a submission folder, a .zip of one, or a folder of those (one per student)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument(
        "--jobs", type=_positive(int), metavar="N",
        help=f"submissions graded at once (default: CPU cores, {available_cores()} here; with --cluster, the cluster's CPUs / --cpus-per-judge)",
    )
    parser.add_argument("--timeout", type=_positive(float), default=DEFAULT_TIMEOUT, help="seconds allowed per submission (default %(default)g)")
    parser.add_argument("--only", type=_questions, default=(), metavar="q1,q3", help="grade only these questions")
    parser.add_argument("--force", action="store_true", help="regrade submissions already graded")
    parser.add_argument("--fail-under", type=_number, metavar="SCORE", help="exit 1 when a graded submission's total score is below SCORE")
    parser.add_argument("--grading-seed", type=int, default=0, metavar="N", help="seed of the graders' random cases (default 0)")
    parser.add_argument("--rubric", type=Path, default=project_layout.DEFAULT_RUBRIC, metavar="FILE", help="rubric YAML: points, visibility, time limits (default: fixtures/rubric.yaml)")
    parser.add_argument(
        "--worker-memory-gb", type=_positive(float), default=WORKER_MEMORY_GB, metavar="GB",
        help="address-space limit of each worker that runs student code, in GiB (default %(default)g)",
    )
    parser.add_argument("--slow", action="store_true", help="also run the slow checks: Q3 trained on CIFAR-10 from $HW9_CIFAR10 (see below)")
    parser.add_argument("--gpu", action="store_true", help="also run the GPU checks: the contract's full Q3 search and retrain (they skip without a GPU)")
    parser.add_argument(
        "--cluster", type=parse_cluster, metavar="ray[:ADDRESS]",
        help="grade each submission as a task on a Ray cluster: `ray` joins $RAY_ADDRESS or starts Ray here, "
             "`ray:HOST:PORT` joins that cluster; with --slow/--gpu those checks run as tasks on GPU nodes",
    )
    parser.add_argument("--cpus-per-judge", type=_positive(float), default=1.0, metavar="N",
                        help="with --cluster: the CPUs each grading task requests (default %(default)g)")
    parser.add_argument(
        "--require-sandbox", choices=judges.SANDBOX_LEVELS[::-1], default="none",
        help="grade only if the workers that run student code get at least this sandbox (default: %(default)s)",
    )
    parser.add_argument(
        "--no-preload", dest="preload", action="store_false",
        help="start every grading process as a fresh interpreter instead of forking one that has imported TensorFlow",
    )
    parser.add_argument(
        "--no-warm-workers", dest="warm_workers", action="store_false",
        help="start every worker that runs student code as a fresh interpreter instead of forking it from "
             "a fork server that has imported TensorFlow once",
    )
    return parser, parser.parse_args(argv)
