"""Code cells split into top-level statements, classified, never run.

Shell (`!`) and magic (`%`) lines are replaced before parsing (a `%%` cell magic drops the
whole cell); each cell is parsed alone with `compile(..., PyCF_ONLY_AST)`, which is what
`ast.parse` does, so a cell that does not parse loses only its own statements. A
statement's `kind` says what it can be: "import", "future", "star", "def", "class",
"assign", "augassign" are candidates for the built modules; "drop" is dropped with `reason`.
"""
import ast
import re
from dataclasses import dataclass, field

from graders.notebook.magics import strip_magics

MAX_CELL_CHARS = 250_000  # a larger cell is dropped whole (a long homework's cell holds a few kB)
MAX_CODE_CHARS = 2_500_000  # all code cells together; over it the notebook is refused
MAX_STATEMENTS = 20_000  # top-level statements in all cells together; over it the notebook is refused

KEEP_RULE = "only imports, definitions and the assignments they use are kept"
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, *_COMPREHENSIONS)
_BLOCKS = {
    ast.If: "`if` block", ast.For: "`for` loop", ast.AsyncFor: "`async for` loop", ast.While: "`while` loop",
    ast.With: "`with` block", ast.AsyncWith: "`async with` block", ast.Try: "`try` block",
    ast.Match: "`match` block", ast.Delete: "`del` statement", ast.Assert: "`assert` statement",
    ast.Raise: "`raise` statement", ast.Global: "`global` statement", ast.Pass: "`pass` statement",
}
if hasattr(ast, "TryStar"):
    _BLOCKS[ast.TryStar] = "`try` block"


@dataclass(eq=False)
class Statement:
    """One top-level statement of a code cell."""

    cell: int  # code cell number, from 1
    line: int  # its first line in the cell, from 1
    text: str  # its source, decorators included
    kind: str
    defines: tuple = ()  # names it binds, for a candidate
    binds: tuple = ()  # names a dropped block binds inside it: why a name may be missing
    touches: tuple = ()  # names a dropped statement changes: `x.method(...)` as a statement, `x[i] = ...`, `x.a = ...`
    reason: str = ""  # why it is dropped
    key: str = ""  # an import's ast.dump, to skip a repeated identical import
    order: int = 0  # position in the whole notebook

    @property
    def head(self):
        """Its first line, shortened, to name it in feedback."""
        first = self.text.strip().split("\n")[0]
        return first if len(first) <= 60 else first[:57] + "..."


@dataclass
class ParsedCell:
    """A code cell: where it is, what was removed before parsing, its statements or why it has none."""

    index: int  # position among all the notebook's cells, from 0
    number: int  # position among code cells, from 1: the N of `# cell N`
    first_line: str
    removed: list = field(default_factory=list)  # (line, text) of shell and magic lines
    error: str = ""  # why the cell was not parsed (syntax error, cell magic, too large)
    statements: list = field(default_factory=list)
    guessed: tuple = ()  # names an unparsed cell seems to define, to explain a missing name
    touches: tuple = ()  # (name, line) that a skipped %%time/%%capture cell changes


def _segment(lines, start, end):
    """Source between two (line, utf-8 column) positions."""
    (line0, col0), (line1, col1) = start, end
    if line0 == line1:
        return lines[line0 - 1].encode()[col0:col1].decode(errors="replace")
    head = lines[line0 - 1].encode()[col0:].decode(errors="replace")
    tail = lines[line1 - 1].encode()[:col1].decode(errors="replace")
    return "\n".join([head, *lines[line0:line1 - 1], tail])


def _bound_inside(node):
    """Names a compound statement binds at module level (not inside its functions or classes)."""
    names, stack = [], list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(child.name)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.append(child.id)
        elif isinstance(child, ast.alias):
            names.append((child.asname or child.name).split(".")[0])
        elif not isinstance(child, (ast.Lambda, *_COMPREHENSIONS)):
            stack.extend(ast.iter_child_nodes(child))
    return tuple(dict.fromkeys(names))


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def touched_names(node):
    """Names whose objects a statement changes, outside its functions: `x.method(...)` called for its
    effect (as a statement of its own), `x[i] = ...`, `x.a = ...`, `del x[i]`."""
    names, stack = [], [node]
    while stack:
        child = stack.pop()
        value = child.value.value if isinstance(child, ast.Expr) and isinstance(child.value, ast.Await) else getattr(child, "value", None)
        if isinstance(child, ast.Expr) and isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            names.append(_root_name(value.func))
        elif isinstance(child, (ast.Attribute, ast.Subscript)) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.append(_root_name(child))
        if not isinstance(child, _SCOPES) or child is node:
            stack.extend(ast.iter_child_nodes(child))
    return tuple(dict.fromkeys(name for name in names if name))


_DEFINES_GUESS = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)|^class[ \t]+(\w+)|^(\w+)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
_PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")


def _guess_defines(source):
    """Names a cell that did not parse seems to define at top level (a hint for feedback only)."""
    return tuple(dict.fromkeys(name for match in _DEFINES_GUESS.finditer(source) for name in match.groups() if name))


def _import_names(node):
    return tuple(dict.fromkeys((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"))


def _colab_module(node):
    modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    if isinstance(node, ast.ImportFrom) and node.module == "google":
        modules = [f"google.{alias.name}" for alias in node.names]
    return next((module for module in modules if module.split(".")[:2] == ["google", "colab"]), "")


def _only_imports(node):
    """A `try` whose every branch holds only imports (and `pass`): kept as an import."""
    bodies = [node.body, node.orelse, node.finalbody, *(handler.body for handler in node.handlers)]
    statements = [statement for body in bodies for statement in body]
    return all(
        isinstance(statement, (ast.Import, ast.ImportFrom, ast.Pass))
        or (isinstance(statement, ast.Try) and _only_imports(statement))
        for statement in statements
    )


def _target_names(targets):
    """Names bound by assignment targets, or None when one is an attribute or an item."""
    names, stack = [], list(targets)
    while stack:
        target = stack.pop(0)
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            stack[:0] = target.elts
        elif isinstance(target, ast.Starred):
            stack.insert(0, target.value)
        else:
            return None
    return tuple(dict.fromkeys(names))


def _short(text, limit=40):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(node, lines):
    """(kind, defines, reason) of a top-level statement."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        colab = _colab_module(node)
        if colab:
            return "drop", (), f"`{colab}` exists only in Colab: Colab-only imports are dropped"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return "future", (), ""
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return "star", (), ""
        return "import", _import_names(node), ""
    if isinstance(node, ast.Try) and _only_imports(node):
        names = [name for child in ast.walk(node) if isinstance(child, (ast.Import, ast.ImportFrom)) for name in _import_names(child)]
        return "import", tuple(dict.fromkeys(names)), ""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "def", (node.name,), ""
    if isinstance(node, ast.ClassDef):
        return "class", (node.name,), ""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = _target_names(targets)
        if names is None:
            shown = ", ".join(_short(_segment(lines, (t.lineno, t.col_offset), (t.end_lineno, t.end_col_offset))) for t in targets)
            return "drop", (), f"assignment to `{shown}`: only assignments to plain names are kept"
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return "drop", (), "an annotation without a value: it has no effect"
        return ("augassign" if isinstance(node, ast.AugAssign) else "assign"), names, ""
    if isinstance(node, ast.Expr):
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return "drop", (), "a bare string: it has no effect"
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call):
            func = value.func
            callee = _short(_segment(lines, (func.lineno, func.col_offset), (func.end_lineno, func.end_col_offset)))
            return "drop", (), f"top-level call `{callee}(...)`: experiments are not run while grading"
        return "drop", (), "a top-level expression: its value is only shown in the notebook"
    what = _BLOCKS.get(type(node), f"`{type(node).__name__}` statement")
    return "drop", (), f"top-level {what}: {KEEP_RULE}"


def _statement(node, cell, lines):
    first = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
    start = (first, 0) if first != node.lineno else (node.lineno, node.col_offset)
    text = _segment(lines, start, (node.end_lineno, node.end_col_offset))
    kind, defines, reason = classify(node, lines)
    statement = Statement(cell=cell, line=first, text=text, kind=kind, defines=defines, reason=reason)
    if kind == "drop":
        statement.binds = _bound_inside(node)
        statement.touches = touched_names(node)
    elif kind in ("import", "star", "future"):
        statement.key = ast.dump(node)
    return statement


def _parse(source, number):
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compile(source, f"<code cell {number}>", "exec", flags=flags, dont_inherit=True), ""
    except SyntaxError as error:
        return None, f"line {error.lineno}: {error.msg}" if error.lineno else str(error.msg)
    except (RecursionError, MemoryError):
        return None, "its code is nested too deeply to read"
    except ValueError as error:  # null bytes
        return None, str(error)


def parse_cell(index, number, source, max_statements=MAX_STATEMENTS):
    """A `ParsedCell` for one code cell's source; ValueError if it holds more than `max_statements`."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    first = next((line.strip() for line in source.split("\n") if line.strip()), "")
    cell = ParsedCell(index=index, number=number, first_line=first if len(first) <= 60 else first[:57] + "...")
    if len(source) > MAX_CELL_CHARS:
        cell.error = f"it holds {len(source):,} characters of code, more than the {MAX_CELL_CHARS:,} a cell may hold"
        return cell
    cleaned, cell.removed, magic = strip_magics(source)
    if magic:
        cell.error = f"cell magic `{_short(magic)}`: the whole cell is skipped"
        cell.guessed = _guess_defines(source)
        if magic.split()[0] in _PYTHON_CELL_MAGICS:  # its Python body may still work on kept names
            lines = source.split("\n")
            magic_line = next(position for position, text in enumerate(lines) if text.strip())
            body, _, _ = strip_magics("\n".join([""] * (magic_line + 1) + lines[magic_line + 1:]))
            tree, _ = _parse(body, number)
            if tree is not None:
                cell.touches = tuple((name, node.lineno) for node in tree.body for name in touched_names(node))
        return cell
    tree, cell.error = _parse(cleaned, number)
    if tree is not None and len(tree.body) > max_statements:
        raise ValueError(f"holds more than {MAX_STATEMENTS:,} top-level statements in its code cells")
    if tree is not None:
        lines = cleaned.split("\n")
        cell.statements = [_statement(node, number, lines) for node in tree.body]
    else:
        cell.guessed = _guess_defines(cleaned)
    return cell


def parse_cells(notebook):
    """`ParsedCell`s of a version 4 notebook's code cells, in order; ValueError past the bounds."""
    cells, total_chars, total_statements, number = [], 0, 0, 0
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        total_chars += len(source)
        if total_chars > MAX_CODE_CHARS:
            raise ValueError(f"holds more than {MAX_CODE_CHARS:,} characters of code in its code cells")
        parsed = parse_cell(index, number, source, MAX_STATEMENTS - total_statements)
        total_statements += len(parsed.statements)
        cells.append(parsed)
    order = 0
    for parsed in cells:
        for statement in parsed.statements:
            statement.order = order
            order += 1
    return cells
