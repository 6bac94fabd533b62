"""Plain data that crosses between a worker and the judge: JSON, with arrays as .npy files.

The worker encodes whatever a submission returned; the judge decodes with
`allow_pickle=False`, so nothing executable ever crosses back.

Every value encoded names its arrays afresh, a0.npy, a1.npy, ... (r0.npy, ... for answers),
and rewrites the files of the value before in place: a grading exchanges about 300 arrays,
and a new file each would take a new inode each. ext4 without a journal checks every inode
freed in the last seconds before it reuses one, so creating a file costs more the more were
deleted lately: 0.2-0.3 ms each during a class here, against 6 us for a rewrite.
"""
import errno
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ARRAY_NAME = re.compile(r"^[ar][0-9]{1,12}\.npy$")
DEFAULT_MAX_RESULT_BYTES = 256 * 2**20


class MalformedAnswer(ValueError):
    """What came back is not what the protocol allows: treated as a wrong answer."""


class ExchangeFolder:
    """Arrays of one answer, read from a folder the other side wrote, within a byte budget.

    Files are opened without following links and must be regular files (a FIFO would hang
    the reader, a device never ends); their sizes count against `max_bytes` before loading.
    """

    def __init__(self, folder, max_bytes=DEFAULT_MAX_RESULT_BYTES):
        self.folder, self.remaining = Path(folder), max_bytes

    def load(self, name):
        if not isinstance(name, str) or not _ARRAY_NAME.match(name):
            raise MalformedAnswer(f"array file name {str(name)[:80]!r} is not one the protocol writes")
        try:
            fd = os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise MalformedAnswer(f"array file {name} cannot be opened ({error.strerror})") from None
        with open(fd, "rb") as stream:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise MalformedAnswer(f"array file {name} is not a regular file")
            if info.st_size > self.remaining:
                raise MalformedAnswer(f"the answer's arrays exceed the {_mib(self.remaining)} left of its size limit")
            self.remaining -= info.st_size
            try:
                _check_header(stream, info.st_size, name)
                return np.load(stream, allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                if isinstance(error, MalformedAnswer):
                    raise
                raise MalformedAnswer(f"array file {name} is not a valid .npy file ({error})") from None


ARRAY_KINDS = "biufc"  # the dtypes that travel as .npy files: booleans and numbers


def _check_header(stream, size, name):
    """Refuse a header that does not describe the file's own bytes (a 192-byte file "holding" 2**45 floats).

    Leaves `stream` at its start for np.load.
    """
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise MalformedAnswer(f"array file {name} has .npy format {version}, which the protocol does not write")
    shape, _, dtype = readers[version](stream, max_header_size=10_000)
    if dtype.hasobject or dtype.names is not None or dtype.itemsize == 0 or dtype.kind not in ARRAY_KINDS:
        raise MalformedAnswer(f"array file {name} declares dtype {dtype}, not a number type")
    count = 1
    for length in shape:
        count *= int(length)
    if count * dtype.itemsize != size - stream.tell():
        raise MalformedAnswer(f"array file {name} declares {count:,} x {dtype.itemsize} bytes but holds {size - stream.tell():,}")
    stream.seek(0)


def _mib(size):
    return f"{size / 2**20:.0f} MiB"


def save_array(path, array):
    """np.save into `path`, rewriting the regular file there (no new inode) or making one.

    Never writes through a link, a FIFO or anything else at `path`: that (or an empty
    folder) is replaced by a new file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        fd = None
    if fd is not None and not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        fd = None
    if fd is None:
        (os.rmdir if os.path.isdir(path) and not os.path.islink(path) else os.unlink)(path)
        fd = os.open(path, flags | os.O_EXCL, 0o666)
    with open(fd, "wb") as stream:
        np.save(stream, array, allow_pickle=False)  # keeps 0-d arrays 0-d
        stream.truncate()  # no O_TRUNC: ext4 writes a file truncated to nothing back to disk when it is closed


@dataclass(frozen=True)
class Unsupported:
    """A returned value that is not plain data (shown to the student by its type name)."""

    type_name: str
    text: str

    def __str__(self):
        return f"<{self.type_name}: {self.text}>"


def type_name(value):
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def encode(value, exchange_dir, prefix="r"):
    """Turn a value into JSON-able data, arrays saved in `exchange_dir` (prefix a: arguments, r: results).

    Its arrays are {prefix}0.npy, {prefix}1.npy, ... in `exchange_dir`, rewritten in place
    if an earlier value left them; the other side reads them before the next value is encoded.
    """
    return _Encoding(Path(exchange_dir), prefix).encode(value, 0)


class _Encoding:
    def __init__(self, folder, prefix):
        self.folder, self.prefix, self.arrays = folder, prefix, 0

    def encode(self, value, depth):
        if depth > 20:
            return {"__unsupported__": "nested too deep", "text": ""}
        if isinstance(value, np.str_):
            return str(value)  # a str subclass: the string it is ("adam" in BEST_HPS)
        # NumPy first: np.float64 is also a Python float.
        if isinstance(value, (np.ndarray, np.generic)) and type(value).__module__.startswith("numpy"):
            array = np.asarray(value)
            if array.dtype.kind not in ARRAY_KINDS or array.dtype.names is not None:
                # Not a number type (strings, objects): a wrong answer the judge names, never an exchange file.
                return {"__unsupported__": f"numpy array of dtype {array.dtype}", "text": _short(value)}
            name = f"{self.prefix}{self.arrays}.npy"
            self.arrays += 1
            save_array(self.folder / name, array)
            return {"__ndarray__": name, "scalar": isinstance(value, np.generic)}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value if abs(value) < 2**62 else {"__bigint__": str(value)}
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, (list, tuple)):
            items = [self.encode(item, depth + 1) for item in value]
            return items if type(value) is list else {"__tuple__": items, "type": type_name(value)}
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                return {"__unsupported__": "dict with non-string keys", "text": _short(value)}
            return {"__dict__": {key: self.encode(item, depth + 1) for key, item in value.items()}}
        return {"__unsupported__": type_name(value), "text": _short(value)}


def _short(value, limit=200):
    try:
        text = repr(value)
    except Exception as error:  # a hostile __repr__ must not break encoding
        text = f"repr failed: {type(error).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


def decode(data, folder, depth=0):
    """Rebuild plain Python and NumPy values from `folder` (an ExchangeFolder); never unpickles.

    Anything the protocol does not write raises MalformedAnswer.
    """
    if depth > 40:
        raise MalformedAnswer("values nested too deep")
    if isinstance(data, list):
        return [decode(item, folder, depth + 1) for item in data]
    if not isinstance(data, dict):
        return data
    try:
        if "__ndarray__" in data:
            array = folder.load(data["__ndarray__"])
            return array[()] if data.get("scalar") is True else array
        if "__tuple__" in data:
            return tuple(decode(item, folder, depth + 1) for item in _list(data["__tuple__"]))
        if "__dict__" in data:
            return {str(key): decode(item, folder, depth + 1) for key, item in dict(data["__dict__"]).items()}
        if "__float__" in data:
            return float(data["__float__"])
        if "__bigint__" in data:
            return int(str(data["__bigint__"])[:5000])
        if "__unsupported__" in data:
            return Unsupported(str(data["__unsupported__"])[:200], str(data.get("text", ""))[:400])
    except (TypeError, ValueError) as error:
        if isinstance(error, MalformedAnswer):
            raise
        raise MalformedAnswer(f"a value the protocol does not write ({error})") from None
    return {str(key): decode(item, folder, depth + 1) for key, item in data.items()}


def _list(value):
    if not isinstance(value, list):
        raise MalformedAnswer("a tuple that is not a list of items")
    return value

