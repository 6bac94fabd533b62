"""Reading a notebook: what is refused (not a notebook, too large, too deep) and how shell and magic lines are dropped."""
import ast
import time

import nbformat
import pytest

from graders.notebook import NotebookError, build_from_bytes, build_from_file, read_notebook
from graders.notebook.magics import strip_magics
from tests.notebook_helpers import Q1_PIECES, build, notebook


@pytest.mark.parametrize("source, removed", [
    ("!pip install x\ny = 1", [(1, "!pip install x")]),
    ("%matplotlib inline", [(1, "%matplotlib inline")]),
    ("files = !ls\nnp.sum?", [(1, "files = !ls"), (2, "np.sum?")]),
    ("s = ('%d'\n     % 3)", []),
    ('doc = """\n%not a magic\n!nor shell\n"""', []),
    ("!pip install a \\\n    b\nc = 1", [(1, "!pip install a \\"), (2, "b")]),
], ids=["shell", "line-magic", "assigned-shell-and-help", "percent-continuation", "inside-a-string", "continued-shell"])
def test_shell_and_magic_lines(source, removed):
    cleaned, got, magic = strip_magics(source)
    assert (got, magic) == (removed, "")
    ast.parse(cleaned)


def test_shell_line_inside_a_function_becomes_pass():
    result = build("def conv_input_rank(kind):\n    !echo hi\n    return 3")
    assert "def conv_input_rank(kind):\n    pass\n    return 3" in result.modules["q1"]


def test_cell_magic_drops_the_whole_cell():
    result = build("%%capture\ndef conv_input_rank(kind):\n    return 3", *Q1_PIECES[:1])
    assert result.cells[0].error == "cell magic `%%capture`: the whole cell is skipped"
    assert "q1" not in result.modules


@pytest.mark.parametrize("data, reason", [
    (b'{"cells": []}', "is JSON but not a Jupyter notebook (it has no `nbformat` field)"),
    (b"[1, 2]", "is JSON but not a Jupyter notebook (it has no `nbformat` field)"),
    (b"def f(): pass", "is not valid JSON (Expecting value at line 1): is it really a .ipynb notebook?"),
    (b"\xff\xfe\x00binary", "is not a text file (not UTF-8): is it really a .ipynb notebook?"),
    (b'{"nbformat": 2, "worksheets": []}', "is a version 2 notebook; only versions 4 (and 3, upgraded) are read"),
    (b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code"}]}', "does not follow the notebook format"),
    (b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": {}}', "has no list of cells"),
], ids=["no-nbformat", "json-list", "python-source", "binary", "version-2", "cell-without-source", "cells-not-a-list"])
def test_what_is_not_a_notebook_is_refused(data, reason):
    with pytest.raises(NotebookError) as refused:
        read_notebook(data, "hw9.ipynb")
    assert str(refused.value).startswith(f"hw9.ipynb {reason}")
    assert "\n" not in str(refused.value)


def test_version_3_notebook_is_upgraded():
    old = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_text_cell("markdown", source="# Q1"),
        nbformat.v3.new_code_cell(input="!pip list\ndef conv_input_rank(kind):\n    return 3"),
    ])])
    result = build_from_bytes(nbformat.writes(old, version=3).encode(), "old.ipynb")
    assert "def conv_input_rank" in result.modules["q1"] and result.cells[0].index == 1


def test_build_from_file(tmp_path):
    path = tmp_path / "hw9.ipynb"
    path.write_bytes(notebook(*Q1_PIECES))
    assert list(build_from_file(path).modules) == ["q1"]


def _cells_json(cell, count):
    return b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [' + b",".join([cell] * count) + b"]}"


TINY_CELL = b'{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": null}'
HOSTILE = {  # name -> (notebook bytes, what the refusal or the dropped cell says)
    "million-tiny-cells": (lambda: _cells_json(TINY_CELL, 1_000_000), "more than the 20.0 MB a notebook may be"),
    "million-empty-objects": (lambda: _cells_json(b"{}", 1_000_000), "has 1,000,000 cells, more than the 5,000"),
    "50-MB-cell": (lambda: _cells_json(TINY_CELL.replace(b"x = 1", b"x = 1\\n" * 7_000_000), 1), "is 46.7 MB, more than the 20.0 MB a notebook may be"),
    "15-MB-of-code": (lambda: notebook(*["#" * 200_000] * 75), "holds more than 2,500,000 characters of code"),
    "300-kB-cell": (lambda: notebook("x = 1\n" * 50_000, *Q1_PIECES), "more than the 250,000 a cell may hold"),
    "100k-parentheses": (lambda: notebook("x = " + "(" * 100_000 + ")" * 100_000, *Q1_PIECES), "too many nested parentheses"),
    "100k-unary-minus": (lambda: notebook("x = " + "-" * 100_000 + "1", *Q1_PIECES), "nested too deeply to read"),
    "10k-additions": (lambda: notebook("x = " + "+".join(["1"] * 10_000), *Q1_PIECES), "nested too deeply to read"),
    "100k-deep-json": (lambda: b'{"nbformat": 4, "cells": [], "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests its JSON 100001 levels deep"),
    "30k-statements": (lambda: notebook(*["\n".join(f"v{cell}_{line} = 0" for line in range(3_000)) for cell in range(10)]), "holds more than 20,000 top-level statements"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_notebook_is_refused_or_contained_quickly(name):
    make, reason = HOSTILE[name]
    data = make()
    started = time.perf_counter()
    try:
        result = build_from_bytes(data, "hostile.ipynb")
    except NotebookError as error:
        said = str(error)
    else:
        said = result.cells[0].error
        assert "conv_input_rank" in result.modules["q1"]  # the rest of the notebook is still built
    seconds = time.perf_counter() - started
    assert reason in said
    assert seconds < 5, f"{name} took {seconds:.1f} s"


def test_deep_but_parseable_statement_is_handled():
    result = build("BEST_HPS = " + "+".join(["1"] * 2_000), "def build_model(hp):\n    return BEST_HPS")
    assert "BEST_HPS = 1+1" in result.modules["q3"]
