"""Plain data that crosses between a worker and the judge: JSON, with arrays as .npy files.

The worker encodes whatever a submission returned; the judge decodes with
`allow_pickle=False`, so nothing executable ever crosses back.
"""
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_counter = itertools.count()


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


def encode(value, exchange_dir, depth=0):
    """Worker side: turn a returned value into JSON-able data, arrays saved beside it."""
    if depth > 20:
        return {"__unsupported__": "nested too deep", "text": ""}
    # NumPy first: np.float64 is also a Python float.
    if isinstance(value, (np.ndarray, np.generic)) and type(value).__module__.startswith("numpy"):
        array = np.asarray(value)
        if array.dtype.hasobject or array.dtype.names is not None:
            return {"__unsupported__": f"numpy array of dtype {array.dtype}", "text": _short(value)}
        path = Path(exchange_dir) / f"r{next(_counter)}.npy"
        np.save(path, array, allow_pickle=False)  # keeps 0-d arrays 0-d
        return {"__ndarray__": path.name, "scalar": isinstance(value, np.generic)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**62 else {"__bigint__": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [encode(item, exchange_dir, depth + 1) for item in value]
        return items if type(value) is list else {"__tuple__": items, "type": type_name(value)}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return {"__unsupported__": "dict with non-string keys", "text": _short(value)}
        return {"__dict__": {key: encode(item, exchange_dir, depth + 1) for key, item in value.items()}}
    return {"__unsupported__": type_name(value), "text": _short(value)}


def _short(value, limit=200):
    try:
        text = repr(value)
    except Exception as error:  # a hostile __repr__ must not break encoding
        text = f"repr failed: {type(error).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


def decode(data, exchange_dir):
    """Judge side: rebuild plain Python and NumPy values; never unpickles."""
    if isinstance(data, list):
        return [decode(item, exchange_dir) for item in data]
    if not isinstance(data, dict):
        return data
    if "__ndarray__" in data:
        name = Path(data["__ndarray__"]).name  # a name only: no path can point elsewhere
        array = np.load(Path(exchange_dir) / name, allow_pickle=False)
        return array[()] if data.get("scalar") else array
    if "__tuple__" in data:
        return tuple(decode(item, exchange_dir) for item in data["__tuple__"])
    if "__dict__" in data:
        return {key: decode(item, exchange_dir) for key, item in data["__dict__"].items()}
    if "__float__" in data:
        return float(data["__float__"])
    if "__bigint__" in data:
        return int(data["__bigint__"])
    if "__unsupported__" in data:
        return Unsupported(str(data["__unsupported__"]), str(data.get("text", "")))
    return {key: decode(item, exchange_dir) for key, item in data.items()}


def dumps(message):
    return json.dumps(message, allow_nan=False, default=str) + "\n"
