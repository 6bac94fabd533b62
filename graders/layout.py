"""Where the project's files are, defined once: the package, the checkout around it, its fixtures."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # graders/
PROJECT_ROOT = PACKAGE_DIR.parent
REFERENCE_SUBMISSION = PROJECT_ROOT / "solutions"
DEFAULT_RUBRIC = PROJECT_ROOT / "fixtures" / "rubric.yaml"
CORPUS_DIR = PROJECT_ROOT / "fixtures" / "submissions"
WORKER_DIR = PACKAGE_DIR / "worker"


def worker_files():
    """The only harness code that runs beside student code: the package marker and `graders/worker/`.

    The checks, oracles and rubric stay unseen by the worker.
    """
    return [PACKAGE_DIR / "__init__.py", *sorted(WORKER_DIR.glob("*.py"))]
