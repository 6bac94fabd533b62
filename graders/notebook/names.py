"""The module-level names a statement reads, from Python's own symbol tables (nothing runs).

`symtable` resolves scopes exactly as the compiler does: a function's parameters and locals,
a comprehension's variables, a class body's own names are not module-level reads. Reads are
split by when they happen: at import (the statement itself, decorators, defaults, class
bodies, comprehensions run there) or only when a kept function is called.
"""
import builtins
import symtable
from dataclasses import dataclass

BUILTIN_NAMES = frozenset(dir(builtins)) | {
    "__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__", "__package__",
    "__annotations__", "__dict__", "__class__",
}
_COMPREHENSIONS = {"listcomp", "setcomp", "dictcomp", "genexpr"}


@dataclass(frozen=True)
class Reads:
    """Module-level names a statement reads, builtins excluded."""

    at_import: frozenset
    when_called: frozenset
    global_stores: frozenset = frozenset()  # names its functions assign after `global name`

    @property
    def all(self):
        return self.at_import | self.when_called


class AnalysisError(ValueError):
    """The statement could not be analysed (nested too deeply, top-level `await`...)."""


def statement_reads(text):
    """`Reads` of one top-level statement's source; AnalysisError if symtable cannot read it."""
    try:
        top = symtable.symtable(text, "<statement>", "exec")
    except SyntaxError as error:
        raise AnalysisError(f"it cannot be analysed ({error.msg})") from None
    except (RecursionError, MemoryError):
        raise AnalysisError("it is nested too deeply to analyse") from None
    at_import, when_called, global_stores = set(), set(), set()
    stack = [(top, True)]
    while stack:
        table, importing = stack.pop()
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                (at_import if importing else when_called).add(symbol.get_name())
            if table is not top and symbol.is_declared_global() and symbol.is_assigned():
                global_stores.add(symbol.get_name())
        for child in table.get_children():
            runs_now = child.get_type() == "class" or child.get_name() in _COMPREHENSIONS
            stack.append((child, importing and runs_now))
    when_called -= at_import
    return Reads(frozenset(at_import - BUILTIN_NAMES), frozenset(when_called - BUILTIN_NAMES), frozenset(global_stores))
