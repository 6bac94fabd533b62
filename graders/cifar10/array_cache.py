"""A disposable disk cache of named NumPy arrays derived from a source file or folder.

An entry is an uncompressed ``.npz`` (read with ``allow_pickle=False``) named after the source's
path and keyed by the sizes and mtimes of its files. Entries are written atomically (temporary
file, then ``os.replace``), and a new entry removes the older ones of the same source. An entry
that cannot be read counts as a miss.
"""
import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

_log = logging.getLogger(__name__)


def entry_path(folder, prefix, source, salt=""):
    """The cache file under ``folder`` for the current state of ``source``."""
    source = Path(source)
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    content = hashlib.sha256(salt.encode())
    for file in files:
        stat = file.stat()
        relative = file.relative_to(source).as_posix() if file != source else ""
        content.update(f"|{relative}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    place = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return Path(folder) / f"{prefix}-{place}-{content.hexdigest()[:16]}.npz"


def read(file, keys):
    """``{key: array}`` from a cache file, or None when it is missing or unreadable."""
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as archive:
            return {key: archive[key] for key in keys}
    except Exception as error:  # the cache is disposable: any failure to read is a miss
        _log.warning("ignoring unreadable cache %s (%s)", file, error)
        return None


def write(file, arrays):
    """Store ``{key: array}`` atomically and drop older entries of the same source.

    Failing to write (a read-only home, a full disk) is logged, not raised: the caller
    already has its arrays.
    """
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(temporary, file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for stale in file.parent.glob(f"{file.stem.rsplit('-', 1)[0]}-*.npz"):
            if stale != file:
                stale.unlink(missing_ok=True)
    except OSError as error:
        _log.warning("could not write cache %s (%s)", file, error)
