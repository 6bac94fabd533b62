"""The question modules built from a notebook's kept statements, and the report of what was dropped.

1. Candidates (imports, defs, classes, assignments to plain names) defined again later
   are dropped: the later cell wins, as in the notebook. An import is only dropped for a
   later def/class/assignment of its names; repeated imports are all kept, in order.
2. For each question, a closure from its exported names over the names every kept
   statement reads (`names.statement_reads`). An assignment needed only by another
   assignment (not by a def or class) is left out when dropped code changes that object
   (`tuner.search(...)`, `x.append(...)` as statements, `x[i] = ...`): its notebook value
   comes from code that does not run, so what reads it is reported as depending on a
   dropped name (`BEST_HPS = tuner.get_best_hyperparameters()[0].values` fails to import).
3. Each module holds its closure in notebook order, `# cell N, line L` before each
   statement; `from __future__` imports first, star imports in every module.
"""
import dataclasses
from collections import defaultdict
from pathlib import Path

from graders.notebook import cells as parsing
from graders.notebook.names import AnalysisError, statement_reads
from graders.notebook.reading import NotebookError, read_notebook, read_notebook_file
from graders.notebook.report import CellReport, NotebookBuild, StatementReport
from graders.questions import all_questions

_FULL = ("import", "def", "class", "assign")  # statements that bind a name anew
_ASSIGNS = ("assign", "augassign")


def _supersede(candidates):
    """Drop every candidate whose names are all bound again later."""
    last, last_not_import = {}, {}
    for statement in candidates:
        if statement.kind in _FULL:
            for name in statement.defines:
                last[name] = statement
                if statement.kind != "import":
                    last_not_import[name] = statement
    for statement in candidates:
        if not statement.defines:
            continue
        winners = [(last_not_import if statement.kind == "import" else last).get(name) for name in statement.defines]
        if all(winner is not None and winner.order > statement.order for winner in winners):
            winner = winners[0]
            statement.kind = "drop"
            statement.reason = f"`{statement.defines[0]}` is defined again in code cell {winner.cell} (line {winner.line}), which wins"


class _Builder:
    def __init__(self, parsed, questions):
        self.parsed = parsed
        self.questions = questions
        self.statements = [statement for cell in parsed for statement in cell.statements]
        candidates = [statement for statement in self.statements if statement.kind != "drop"]
        _supersede(candidates)
        self.live = [statement for statement in candidates if statement.kind != "drop"]
        self.binders = defaultdict(list)
        for statement in self.live:
            for name in statement.defines:
                self.binders[name].append(statement)
        touches = [((cell.number, line), name) for cell in parsed for name, line in cell.touches]
        touches += [((statement.cell, statement.line), name) for statement in self.statements if statement.kind == "drop" for name in statement.touches]
        self.touched = {}  # name -> (cell, line) of the first dropped code changing it
        for where, name in sorted(touches, reverse=True):
            self.touched[name] = where
        self.reads, self.failed, self.skipped = {}, {}, defaultdict(set)

    def reads_of(self, statement):
        if statement not in self.reads and statement not in self.failed:
            try:
                reads = statement_reads(statement.text)
            except AnalysisError as error:
                self.failed[statement] = str(error)
                return None
            if statement.kind == "augassign":  # `x += 1` reads x
                reads = dataclasses.replace(reads, at_import=reads.at_import | set(statement.defines))
            self.reads[statement] = reads
        return self.reads.get(statement)

    def closure(self, roots):
        """Statements a module needs for `roots`: (name, reader) pairs are walked, reader None for a root."""
        included, seen, stack = set(), set(), [(name, None) for name in roots]
        while stack:
            name, reader = stack.pop()
            only_assigns_read = reader is not None and reader.kind in _ASSIGNS
            if (name, only_assigns_read) in seen:
                continue
            seen.add((name, only_assigns_read))
            for binder in self.binders.get(name, ()):
                if binder in included:
                    continue
                if only_assigns_read and binder.kind in _ASSIGNS and name in self.touched:
                    self.skipped[binder].add(name)
                    continue
                reads = self.reads_of(binder)
                if reads is not None:
                    included.add(binder)
                    stack.extend((read, binder) for read in reads.all)
        return included

    def build(self):
        placed = {}
        for question in self.questions:
            included = self.closure(question.exports)
            if any(name in statement.defines for statement in included for name in question.exports):
                placed[question.module] = included
        everywhere = [statement for statement in self.live if statement.kind in ("future", "star")]
        for included in placed.values():
            included.update(everywhere)
        return {module: sorted(included, key=lambda statement: statement.order) for module, included in placed.items()}


def _printable(text):
    return "".join(character if character.isprintable() else "?" for character in str(text))


def render(name, statements):
    """A module's source: a header naming the notebook, then each statement after `# cell N, line L`."""
    used = ", ".join(str(number) for number in sorted({statement.cell for statement in statements}))
    lines = [
        f"# Built by hw9-grade from the notebook {_printable(name)}: code cells {used} (N in `# cell N` counts code cells from 1).",
        "# Only imports, definitions and the assignments they use were kept; nothing else in the notebook runs.",
    ]
    ordered = [statement for statement in statements if statement.kind == "future"]
    ordered += [statement for statement in statements if statement.kind != "future"]
    last_binder = {}
    for statement in ordered:
        if statement.kind == "import" and all(last_binder.get(name) == statement.key for name in statement.defines):
            continue  # the same import again, with nothing else bound to its names in between
        for name in statement.defines:
            last_binder[name] = statement.key or None
        lines += ["", f"# cell {statement.cell}, line {statement.line}", _guarded(statement)]
    if any(statement.kind in GUARDED_KINDS for statement in ordered):
        lines[2:2] = ["", UNBUILT_NAMES]
        lines += ["", UNBUILT_ACCESS]
    return "\n".join(lines) + "\n"


GUARDED_KINDS = ("assign", "augassign")
UNBUILT_NAMES = '''_hw9_unbuilt = {}  # name -> why its kept assignment failed at import


def _hw9_why(error):
    missing = error.name if isinstance(error, NameError) else None
    why = f"{type(error).__name__}: {error}"
    return f"{why}, and `{missing}` failed: {_hw9_unbuilt[missing]}" if missing in _hw9_unbuilt else why'''
# A kept assignment that fails at import (it reads what only dropped code defines, as a
# BEST_HPS read from a tuner does) costs the names it binds, not the whole module.
UNBUILT_ACCESS = '''def __getattr__(name):
    if name in _hw9_unbuilt:
        raise ImportError(f"`{name}` could not be built from the notebook at import: {_hw9_unbuilt[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")'''


def _guarded(statement):
    """An assignment's text inside try/except recording its failure; any other statement's text as it is."""
    if statement.kind not in GUARDED_KINDS or _has_multiline_string(statement.text) or "__getattr__" in statement.defines:
        return statement.text
    body = "\n".join("    " + line for line in statement.text.split("\n"))
    names = ", ".join(repr(name) for name in statement.defines)
    return (
        f"try:\n{body}\nexcept Exception as _hw9_error:\n"
        f"    _hw9_unbuilt.update(dict.fromkeys(({names},), _hw9_why(_hw9_error)))"
    )


def _has_multiline_string(text):
    """Whether indenting `text` would change a string's value (a string token spanning lines)."""
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return True
    return any(token.type == tokenize.STRING and token.start[0] != token.end[0] for token in tokens)


class _Feedback:
    """Why each statement was dropped, what each kept one may lack, why an exported name is missing."""

    def __init__(self, builder, placed):
        self.builder, self.placed = builder, {module: set(statements) for module, statements in placed.items()}
        kept = set().union(*self.placed.values())
        self.dropped_binder = {}
        for statement in builder.statements:
            if statement not in kept:
                for name in (*statement.defines, *statement.binds):
                    self.dropped_binder[name] = statement
        self.notes = defaultdict(dict)
        for statements in placed.values():
            self._note_module(statements)

    def why_missing(self, name):
        statement = self.dropped_binder.get(name)
        if statement is not None:
            return f"`{name}` is defined only by dropped code (code cell {statement.cell}, line {statement.line})"
        for cell in self.builder.parsed:
            if name in cell.guessed:
                return f"code cell {cell.number}, which seems to define `{name}`, was not used ({cell.error})"
        return f"the notebook never defines `{name}`"

    def _note_module(self, statements):
        if any(statement.kind == "star" for statement in statements):
            return  # a star import may define anything
        bound_by, stored = defaultdict(list), set()
        for statement in statements:
            for name in statement.defines:
                bound_by[name].append(statement)
            reads = self.builder.reads.get(statement)
            stored |= reads.global_stores if reads else set()
        bound = set()
        for statement in statements:
            reads = self.builder.reads.get(statement)
            for name in sorted(reads.at_import if reads else ()):
                if name in bound:
                    continue
                if bound_by.get(name):
                    later = bound_by[name][0]
                    why = f"code cell {later.cell} (line {later.line}) defines it only later"
                else:
                    why = self.why_missing(name)
                cost = "what it binds will be missing" if _guarded(statement) != statement.text else "importing the module will fail"
                self.notes[statement][f"needs `{name}` at import, but {why}: {cost}"] = None
            for name in sorted(reads.when_called if reads else ()):
                if not bound_by.get(name) and name not in stored:
                    self.notes[statement][f"uses `{name}`, but {self.why_missing(name)}: calling it will fail"] = None
            bound.update(statement.defines)

    def reason(self, statement):
        builder, names = self.builder, ", ".join(statement.defines)
        if statement.kind == "drop":
            return statement.reason
        if statement in builder.failed:
            return builder.failed[statement]
        if statement in builder.skipped:
            name = sorted(builder.skipped[statement])[0]
            cell, line = builder.touched[name]
            return (
                f"assignment to `{names}`, which no kept definition uses; dropped code changes `{name}` "
                f"(code cell {cell}, line {line}), so its notebook value cannot be rebuilt"
            )
        if statement.kind in _ASSIGNS:
            return f"assignment to `{names}`, which no kept definition uses"
        if statement.kind in ("def", "class"):
            return f"`{names}` is not used by any question's code"
        if statement.kind == "import":
            return f"no question's code uses `{names}`"
        return "no question module was built"

    def cell_reports(self):
        reports = []
        for cell in self.builder.parsed:
            report = CellReport(cell.index, cell.number, cell.first_line, list(cell.removed), cell.error)
            for statement in cell.statements:
                modules = tuple(module for module, included in self.placed.items() if statement in included)
                report.statements.append(StatementReport(
                    line=statement.line, head=statement.head, kind=statement.kind, defines=statement.defines,
                    modules=modules, reason="" if modules else self.reason(statement), notes=tuple(self.notes.get(statement, ())),
                ))
            reports.append(report)
        return reports


def build_modules(notebook, name="notebook.ipynb", questions=None):
    """`NotebookBuild` of an nbformat version 4 notebook (as `read_notebook` returns); nothing is run."""
    questions = all_questions() if questions is None else tuple(questions)
    try:
        parsed = parsing.parse_cells(notebook)
    except ValueError as error:
        raise NotebookError(f"{name} {error}") from None
    builder = _Builder(parsed, questions)
    placed = builder.build()
    feedback = _Feedback(builder, placed)
    missing = {}
    for question in questions:
        defined = {name for statement in placed.get(question.module, ()) for name in statement.defines}
        gone = {export: feedback.why_missing(export) for export in question.exports if export not in defined}
        if gone:
            missing[question.module] = gone
    modules = {module: render(name, statements) for module, statements in placed.items()}
    return NotebookBuild(name=name, modules=modules, cells=feedback.cell_reports(), missing=missing)


def build_from_bytes(data, name="notebook.ipynb", questions=None):
    """Read (bounded, validated) and build; NotebookError with a one-line reason otherwise."""
    return build_modules(read_notebook(data, name), name, questions)


def build_from_file(path, questions=None):
    """`build_from_bytes` of a file, refusing an oversized one before reading it."""
    path = Path(path)
    return build_modules(read_notebook_file(path), path.name, questions)
