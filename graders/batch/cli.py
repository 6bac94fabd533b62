"""`hw9-grade SUBMISSION... --out DIR`: grade a whole class into a gradebook and an HTML report."""
import os
import sys

from graders.batch.processes import SINGLE_THREAD_ENVIRONMENT


def main(argv=None):
    # Before anything loads NumPy: this process forks the grading processes (graders/batch/judges.py).
    os.environ.update(SINGLE_THREAD_ENVIRONMENT)
    from graders.batch.command import run

    code = run(argv)
    if "tensorflow" in sys.modules:
        # Everything is written and closed; TensorFlow's interpreter teardown would take seconds more.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
