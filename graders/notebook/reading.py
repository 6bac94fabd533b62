"""Reading a Jupyter notebook from bytes, bounded before anything is parsed deeply.

Order of the checks: the size of the file, UTF-8, the nesting depth of the JSON (a linear
scan with NumPy, strings blanked out), `json.loads`, the `nbformat` version and the number
of cells, then nbformat's own reading and schema validation. A version 3 notebook is
upgraded to version 4 with `nbformat.convert`. Every failure is a `NotebookError` whose
text is one line a student understands.
"""
import json
import re
import warnings
from pathlib import Path

import numpy as np

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 100  # Colab's deepest (widget state, plot outputs) is about 15
MAX_CELLS = 5000

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class NotebookError(ValueError):
    """The notebook cannot be read; `str()` is a one-line reason for the student."""


def _megabytes(size):
    return f"{size / (1024 * 1024):.1f} MB"


def _too_large(size):
    return (
        f"is {_megabytes(size)}, more than the {_megabytes(MAX_NOTEBOOK_BYTES)} a notebook may be: "
        "clear its outputs (Edit > Clear all outputs), save it and hand it in again"
    )


def json_depth(data):
    """Deepest nesting of `[` and `{` in JSON bytes, strings ignored; linear time, no recursion."""
    codes = np.frombuffer(_JSON_STRING.sub(b'""', bytes(data)), dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.zeros(codes.size, dtype=np.int8)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _cell_count(raw, major):
    if major == 3:
        worksheets = raw.get("worksheets")
        if not isinstance(worksheets, list) or not all(isinstance(sheet, dict) for sheet in worksheets):
            raise NotebookError("is a version 3 notebook without a list of worksheets: the file is damaged")
        cells = [cell for sheet in worksheets for cell in (sheet.get("cells") or [])]
    else:
        cells = raw.get("cells")
        if not isinstance(cells, list):
            raise NotebookError("has no list of cells: the file is damaged or is not a notebook")
    return len(cells)


def _first_line(text, limit=160):
    line = str(text).strip().splitlines()[0] if str(text).strip() else "invalid"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _validation_reason(error):
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in getattr(error, "path", ()) or ())
    where = f" at {where.lstrip('.')}" if where else ""
    return f"does not follow the notebook format{where}: {_first_line(getattr(error, 'message', error))}"


def _to_v4(raw, major, minor):
    """The on-disk dict validated, read by nbformat (lines rejoined) and upgraded to version 4."""
    import nbformat  # with jsonschema, 0.06 s of CPU a grading process that reads no notebook would spend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat warns about missing cell ids and the like
        if major == 4:
            _, raw = nbformat.validator.normalize(raw)  # adds missing cell ids (nbformat 4.5)
        nbformat.validate(raw, relax_add_props=True)
        notebook = nbformat.versions[major].to_notebook_json(raw, minor=minor)
        if major == 3:
            _, notebook = nbformat.validator.normalize(nbformat.convert(notebook, 4))
            notebook = nbformat.from_dict(notebook)
            nbformat.validate(notebook, relax_add_props=True)
    return notebook


def read_notebook(data, name="notebook.ipynb"):
    """The notebook in `data` (bytes) as an nbformat version 4 `NotebookNode`; NotebookError otherwise."""
    try:
        return _read(data)
    except NotebookError as error:
        raise NotebookError(f"{name} {error}") from None


def _read(data):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(_too_large(len(data)))
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotebookError("is not a text file (not UTF-8): is it really a .ipynb notebook?") from None
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise NotebookError(f"nests its JSON {depth} levels deep, more than {MAX_JSON_DEPTH}: Jupyter and Colab never write that")
    try:
        raw = json.loads(text)
    except ValueError as error:
        reason = f"{error.msg} at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else str(error)
        raise NotebookError(f"is not valid JSON ({reason}): is it really a .ipynb notebook?") from None
    except (RecursionError, MemoryError):
        raise NotebookError("is JSON too deeply nested or too large to read") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise NotebookError("is JSON but not a Jupyter notebook (it has no `nbformat` field)")
    major, minor = raw.get("nbformat"), raw.get("nbformat_minor", 0)
    if isinstance(major, bool) or not isinstance(major, int) or isinstance(minor, bool) or not isinstance(minor, int):
        raise NotebookError("has a damaged `nbformat` version field")
    if major not in (3, 4):
        raise NotebookError(
            f"is a version {major} notebook; only versions 4 (and 3, upgraded) are read: "
            "open it in Jupyter or Colab, save it and download it again"
        )
    cells = _cell_count(raw, major)
    if cells > MAX_CELLS:
        raise NotebookError(f"has {cells:,} cells, more than the {MAX_CELLS:,} a notebook may have")
    from nbformat import ValidationError

    try:
        return _to_v4(raw, major, minor)
    except ValidationError as error:
        raise NotebookError(_validation_reason(error)) from None
    except (RecursionError, MemoryError):
        raise NotebookError("is too deeply nested or too large to read") from None
    except Exception as error:  # nbformat's readers raise KeyError, AttributeError... on damaged files
        raise NotebookError(f"is damaged and cannot be read ({type(error).__name__}: {_first_line(error, 100)})") from None


def read_notebook_file(path):
    """`read_notebook` of a file, refusing an oversized one before reading it."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path.name} {_too_large(size)}")
    with open(path, "rb") as stream:
        data = stream.read(MAX_NOTEBOOK_BYTES + 1)
    return read_notebook(data, path.name)
