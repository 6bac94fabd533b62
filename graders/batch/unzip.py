"""Unpacking a submitted .zip without trusting it.

A zip is refused whole (the submission becomes `invalid`) when it is not a regular file
(a link, a FIFO: it is never opened as one), when any entry would land outside the
destination, is a link or a special file, is encrypted, or when the files together
exceed the size or count limits. Sizes are counted while reading, not taken from the
headers, which a crafted zip can fake.
"""
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from graders.judge.harness import MAX_SUBMISSION_BYTES
from graders.judge.safe_files import UnsafeFile, read_regular_file

# Files macOS and Python leave behind, never part of a submission.
JUNK_PARTS = ("__MACOSX", "__pycache__", ".DS_Store")
_CHUNK = 1 << 16


class InvalidSubmission(Exception):
    """A submission that cannot be graded at all; the message is the gradebook's reason."""


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int = MAX_SUBMISSION_BYTES  # unpacked
    max_files: int = 1000
    max_archive_bytes: int = 2 * MAX_SUBMISSION_BYTES  # the .zip itself, read whole into memory


def is_junk(parts):
    return any(part in JUNK_PARTS or part.endswith(".pyc") for part in parts)


def safe_member_path(name):
    """The relative path an entry name stands for, or InvalidSubmission if it escapes."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (path.parts and ":" in path.parts[0]):
        raise InvalidSubmission(f"zip entry {name!r} has an absolute path")
    if ".." in path.parts:
        raise InvalidSubmission(f"zip entry {name!r} points outside the submission (..)")
    parts = [part for part in path.parts if part not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _check_entry(info):
    mode = info.external_attr >> 16
    if info.flag_bits & 0x1:
        raise InvalidSubmission(f"zip entry {info.filename!r} is encrypted")
    if mode and stat.S_ISLNK(mode):
        raise InvalidSubmission(f"zip entry {info.filename!r} is a symbolic link")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InvalidSubmission(f"zip entry {info.filename!r} is not a regular file")


def _copy_limited(source, target, budget, name):
    """Copy at most `budget` bytes; return how many were copied."""
    copied = 0
    while chunk := source.read(_CHUNK):
        copied += len(chunk)
        if copied > budget:
            raise InvalidSubmission(f"zip is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB unpacked (at {name!r})")
        target.write(chunk)
    return copied


def extract_zip(zip_path, destination, limits=ZipLimits()):
    """Unpack `zip_path` into the empty folder `destination`; return the submission root.

    The root is `destination`, or the single top-level folder that holds everything.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(io.BytesIO(read_regular_file(zip_path, limits.max_archive_bytes)))
    except UnsafeFile as error:
        raise InvalidSubmission(str(error)) from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:  # ValueError: an entry name that is not UTF-8
        raise InvalidSubmission(f"{Path(zip_path).name} is not a readable zip file ({error})") from None
    with archive:
        members = []
        for info in archive.infolist():
            relative = safe_member_path(info.filename)
            _check_entry(info)
            if relative is None or info.is_dir() or is_junk(relative.parts):
                continue
            members.append((info, relative))
        if len(members) > limits.max_files:
            raise InvalidSubmission(f"zip holds {len(members)} files, more than the limit of {limits.max_files}")
        budget = limits.max_bytes
        for info, relative in members:
            target = destination.joinpath(*relative.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "xb") as output:
                    budget -= _copy_limited(source, output, budget, info.filename)
            except (FileExistsError, NotADirectoryError):
                raise InvalidSubmission(f"zip holds {info.filename!r} twice, or as a file and a folder") from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as error:
                raise InvalidSubmission(f"zip entry {info.filename!r} cannot be read ({error})") from None
    return unwrap(destination)


def unwrap(folder, max_depth=3):
    """Descend through folders that hold nothing but one folder (`alice/hw9/q1.py` -> `hw9`)."""
    folder = Path(folder)
    for _ in range(max_depth):
        entries = [entry for entry in folder.iterdir() if not is_junk([entry.name])]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            break
        folder = entries[0]
    return folder
