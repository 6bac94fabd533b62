"""`hw9-grade SUBMISSION... --out DIR`: grade a whole class into a gradebook and an HTML report."""
import os
import sys
import traceback

from graders.threads import SINGLE_THREAD

INTERNAL_ERROR = 4  # command.ExitCode.INTERNAL_ERROR (importing command loads NumPy)


def main(argv=None, hosted=None):
    """hw9-grade; `hosted` is the fork server of graders/batch/host.py when this process is its host."""
    as_program = argv is None  # a caller passing argv (a test) keeps its interpreter
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bundle"]:  # hw9-grade bundle gradescope|github-classroom|student ...
        from graders.deploy.cli import main as bundle_main

        return bundle_main(argv[1:])
    # Before anything loads NumPy: this process forks the grading processes (graders/batch/judges.py).
    os.environ.update(SINGLE_THREAD)
    if as_program and hosted is None:
        _relaunch_as_host(argv)
    try:
        from graders.batch.command import run

        code = run(argv, hosted=hosted)
    except Exception:  # a bug here, not a usage error nor a submission's failure: exit codes 2, 3, 1 mean those
        traceback.print_exc()
        code = INTERNAL_ERROR
    if as_program and "tensorflow" in sys.modules:
        # Everything is written and closed; TensorFlow's interpreter teardown would take seconds more.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _relaunch_as_host(argv):
    """Re-execute as graders/batch/host.py where judges fork and workers are warm (one TensorFlow import)."""
    from graders.batch.arguments import parse_arguments

    _, arguments = parse_arguments(argv)  # a usage error exits 2 here as it would in run()
    if arguments.cluster is None and arguments.preload and arguments.warm_workers:
        from graders.batch import host

        host.relaunch(argv)  # returns only where it cannot


if __name__ == "__main__":
    sys.exit(main())
