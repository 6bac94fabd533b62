"""Reading a worker's raw answer: its structure is checked before the judge uses any of it.

The worker runs student code, so an answer may be forged or damaged. Each reader returns
the value (NumPy scalars as Python numbers, tuples as lists) or raises `Malformed` saying
where the structure breaks; a check turns that into a failed check, never a crash.
"""
import math

import numpy as np

MAX_ITEMS = 100_000
MAX_DEPTH = 30


class Malformed(ValueError):
    """An answer that does not have the structure the judge asked for."""


def _kind(value):
    return type(value).__name__


def plain(value, where, depth=0):
    """Plain JSON data: None, bool, int, float, str, and lists and str-keyed dicts of them."""
    if depth > MAX_DEPTH:
        raise Malformed(f"{where} is nested more than {MAX_DEPTH} deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = sequence(value, where)
        return [plain(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(items)]
    if isinstance(value, dict):
        mapping(value, where)
        return {key: plain(item, f"{where}[{key!r}]", depth + 1) for key, item in value.items()}
    raise Malformed(f"{where} is a {_kind(value)}, not plain data")


def mapping(value, where, required=()):
    """A dict with str keys holding at least `required`."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise Malformed(f"{where} is a {_kind(value)}, not a dict with string keys")
    if len(value) > MAX_ITEMS:
        raise Malformed(f"{where} has {len(value)} keys")
    missing = [key for key in required if key not in value]
    if missing:
        raise Malformed(f"{where} lacks {', '.join(map(repr, missing))}")
    return value


def sequence(value, where, length=None):
    """A list (or tuple), as a list."""
    if not isinstance(value, (list, tuple)):
        raise Malformed(f"{where} is a {_kind(value)}, not a list")
    if len(value) > MAX_ITEMS or (length is not None and len(value) != length):
        raise Malformed(f"{where} has {len(value)} items" + (f", not {length}" if length is not None else ""))
    return list(value)


def string(value, where, optional=False):
    if optional and value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where} is a {_kind(value)}, not a string")
    return str(value)


def boolean(value, where):
    if not isinstance(value, (bool, np.bool_)):
        raise Malformed(f"{where} is a {_kind(value)}, not a bool")
    return bool(value)


def integer(value, where, optional=False, minimum=None, maximum=None):
    if optional and value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise Malformed(f"{where} is a {_kind(value)}, not an int")
    if minimum is not None and value < minimum:
        raise Malformed(f"{where} is {value}, below {minimum}")
    if maximum is not None and value > maximum:
        raise Malformed(f"{where} is {value}, above {maximum}")
    return int(value)


def number(value, where, optional=False, finite=False):
    """An int or float (never a bool), as a float."""
    if optional and value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise Malformed(f"{where} is a {_kind(value)}, not a number")
    value = float(value)
    if finite and not math.isfinite(value):
        raise Malformed(f"{where} is {value}, not a finite number")
    return value


def array(value, where, ndim=None, shape=None):
    """A real numeric NumPy array, of `ndim` dimensions or exactly `shape` where given."""
    if not isinstance(value, np.ndarray):
        raise Malformed(f"{where} is a {_kind(value)}, not a NumPy array")
    if value.dtype.kind not in "biuf":
        raise Malformed(f"{where} has dtype {value.dtype}, not a real number type")
    if ndim is not None and value.ndim != ndim:
        raise Malformed(f"{where} has shape {value.shape}, not {ndim} dimensions")
    if shape is not None and value.shape != tuple(shape):
        raise Malformed(f"{where} has shape {value.shape}, not {tuple(shape)}")
    return value


def classes(value, where):
    """[[module, qualname], ...]: a type's MRO as the worker reports it, as tuples."""
    items = sequence(value, where)
    return [tuple(string(part, f"{where}[{index}]") for part in sequence(item, f"{where}[{index}]", length=2)) for index, item in enumerate(items)]


def read(reader, answer, *args):
    """(value, None) from `reader(answer, *args)`, or (None, why it is malformed)."""
    try:
        return reader(answer, *args), None
    except Malformed as error:
        return None, str(error)
