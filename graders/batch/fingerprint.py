"""Content hashes that decide whether a stored grade is still valid.

A grade is reused only when the submission's files, the graders (code, rubric, oracles,
library versions) and the grading options are all unchanged.
"""
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

from graders.batch.inputs import submission_files

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GRADED_LIBRARIES = ("tensorflow", "keras", "keras-tuner", "numpy", "opencv-python-headless", "pytest")


def _hash_file(digest, path, root):
    digest.update(str(path.relative_to(root)).encode() + b"\0")
    digest.update(hashlib.sha256(path.read_bytes()).digest())


def content_hash(source):
    """SHA-256 of a zip's bytes, or of a folder's file names and contents."""
    digest = hashlib.sha256()
    source = Path(source)
    if source.is_file():
        with open(source, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    for path in submission_files(source):
        _hash_file(digest, path, source)
    return digest.hexdigest()


def _grader_files(root):
    # Of the batch code, only the Q2 gallery runs inside grading; the rest just files results.
    batch = root / "graders" / "batch"
    yield from sorted(path for path in (root / "graders").rglob("*.py") if path.parent != batch or path.stem.startswith("gallery"))
    yield root / "fixtures" / "rubric.yaml"
    # The oracles; solutions/q*.py are a submission like any other, not part of the graders.
    yield from sorted(path for path in (root / "solutions").glob("*.py") if not path.stem[:1] == "q")


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def grader_fingerprint(options, root=PROJECT_ROOT):
    """SHA-256 of everything besides the submission that a grade depends on."""
    digest = hashlib.sha256()
    for path in _grader_files(root):
        if path.is_file() and "__pycache__" not in path.parts:
            _hash_file(digest, path, root)
    environment = {name: _version(name) for name in GRADED_LIBRARIES}
    environment["python"] = platform.python_version()
    digest.update(json.dumps({"environment": environment, "options": options}, sort_keys=True).encode())
    return digest.hexdigest()
