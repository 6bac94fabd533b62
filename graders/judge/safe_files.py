"""Reading files a student controls: no links followed, regular files only, sizes capped.

A submission may hold a symlink to /dev/zero, a FIFO named q1.py or a sparse file of a
terabyte; every reader of student files (the harness, the batch runner, hashing, the
library-use scan) goes through here, so none of those can hang or exhaust the judge.
"""
import os
import stat
from pathlib import Path, PurePosixPath

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeFile(ValueError):
    """A student file that is not read: a link, a device, a FIFO, or too large."""


def _kind(mode):
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _open_regular(path, max_bytes):
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        reason = "a symbolic link" if error.errno == 40 else error.strerror  # ELOOP: O_NOFOLLOW met a link
        raise UnsafeFile(f"{Path(path).name}: not read ({reason})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFile(f"{Path(path).name}: not read ({_kind(info.st_mode)})")
    if max_bytes is not None and info.st_size > max_bytes:
        os.close(fd)
        raise UnsafeFile(f"{Path(path).name}: not read (larger than {max_bytes:,} bytes)")
    return fd, info


def read_regular_file(path, max_bytes):
    """The bytes of `path`, which must be a regular file (not a link) of at most `max_bytes`."""
    fd, _ = _open_regular(path, max_bytes)
    with open(fd, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while read
        raise UnsafeFile(f"{Path(path).name}: not read (larger than {max_bytes:,} bytes)")
    return data


def read_tail(path, max_bytes):
    """At most the last `max_bytes` of a regular file (a log that may be large)."""
    fd, info = _open_regular(path, None)
    with open(fd, "rb") as stream:
        stream.seek(max(0, info.st_size - max_bytes))
        return stream.read(max_bytes)


def iter_regular_files(folder, skipped=None):
    """Relative paths of the regular files under `folder`, never through a link.

    Links, devices, FIFOs and sockets are not yielded; with a `skipped` list, each is
    appended to it as (relative path, what it is).
    """
    root = Path(folder)
    pending = [PurePosixPath()]
    while pending:
        relative = pending.pop()
        try:
            entries = sorted(os.scandir(root / relative), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            path = relative / entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                pending.append(path)
            elif stat.S_ISREG(mode):
                yield Path(path)
            elif skipped is not None:
                skipped.append((str(path), _kind(mode)))


def copy_regular_files(source, destination, max_bytes):
    """Copy the regular files of `source` (no links, no caches, at most `max_bytes` together) to the new folder `destination`."""
    if not source.is_dir() or source.is_symlink():
        raise FileNotFoundError(f"submission folder not found: {source}")
    total = 0
    destination.mkdir(mode=0o755)
    for relative in iter_regular_files(source):
        if "__pycache__" in relative.parts:
            continue
        data = read_regular_file(source / relative, max_bytes - total)
        total += len(data)
        target = destination / relative
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o644)
