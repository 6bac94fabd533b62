"""Content hashes that decide whether a stored grade is still valid.

A grade is reused only when the submission's files, the graders (code, rubric, oracles,
library versions) and the grading options are all unchanged. A submission's files are
read as the worker reads them: regular files only, never through a link, within the
submission size limit (past it, UnsafeFile: no fingerprint, so it is always redone).
"""
import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

from graders import layout
from graders.batch.inputs import submission_files
from graders.batch.unzip import ZipLimits
from graders.judge.harness import MAX_SUBMISSION_BYTES
from graders.judge.safe_files import read_regular_file

GRADED_LIBRARIES = ("tensorflow", "keras", "keras-tuner", "numpy", "opencv-python-headless", "pytest")


def _hash_file(digest, relative, data):
    digest.update(os.fsencode(relative) + b"\0")  # fsencode: names need not be UTF-8
    digest.update(hashlib.sha256(data).digest())


def content_hash(source):
    """SHA-256 of a zip's bytes, or of a folder's file names and contents."""
    source = Path(source)
    if not source.is_dir():
        return hashlib.sha256(read_regular_file(source, ZipLimits().max_archive_bytes)).hexdigest()
    digest, budget = hashlib.sha256(), MAX_SUBMISSION_BYTES
    for relative in submission_files(source):
        data = read_regular_file(source / relative, budget)
        budget -= len(data)
        _hash_file(digest, relative, data)
    return digest.hexdigest()


def _grader_files(root):
    # Of the batch code, only the Q2 gallery runs inside grading; the rest just files results.
    batch = root / "graders" / "batch"
    code_and_data = [*(root / "graders").rglob("*.py"), *(root / "graders").rglob("*.yaml")]  # the mistake catalogues
    yield from sorted(path for path in code_and_data if path.parent != batch or path.stem.startswith("gallery"))
    yield root / layout.DEFAULT_RUBRIC.relative_to(layout.PROJECT_ROOT)


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def grader_fingerprint(options, root=layout.PROJECT_ROOT):
    """SHA-256 of everything besides the submission that a grade depends on."""
    digest = hashlib.sha256()
    for path in _grader_files(root):
        if path.is_file() and "__pycache__" not in path.parts:
            _hash_file(digest, path.relative_to(root), path.read_bytes())
    environment = {name: _version(name) for name in GRADED_LIBRARIES}
    environment["python"] = platform.python_version()
    digest.update(json.dumps({"environment": environment, "options": options}, sort_keys=True).encode())
    return digest.hexdigest()
