"""What a notebook build produced: the modules' sources and, cell by cell, what was kept and why the rest was dropped."""
from dataclasses import dataclass, field
from pathlib import Path

SUMMARY_STATEMENTS_PER_CELL = 30  # more are counted, not listed


@dataclass
class StatementReport:
    """One top-level statement: kept (and where) or dropped (and why)."""

    line: int  # first line in its cell, from 1
    head: str  # its first line, shortened
    kind: str  # import, future, star, def, class, assign, augassign or drop
    defines: tuple = ()
    modules: tuple = ()  # the built modules holding it; empty when dropped
    reason: str = ""  # why it was dropped
    notes: tuple = ()  # why a kept statement may fail: names it needs that nothing kept defines

    @property
    def kept(self):
        return bool(self.modules)

    def describe(self):
        defines = f" ({', '.join(self.defines)})" if self.defines else ""
        if self.kept:
            text = f"kept line {self.line} `{self.head}`{defines} in {', '.join(self.modules)}"
            return "; ".join([text, *self.notes])
        return f"dropped line {self.line} `{self.head}`: {self.reason}"


@dataclass
class CellReport:
    """A code cell: its position, the lines removed before parsing, its statements or why it was skipped."""

    index: int  # position among all the notebook's cells, from 0
    number: int  # position among code cells, from 1 (the N of `# cell N` in the modules)
    first_line: str
    removed_lines: list = field(default_factory=list)  # (line, text) of shell and magic lines
    error: str = ""  # why the whole cell was dropped: its syntax error, a cell magic, its size
    statements: list = field(default_factory=list)  # StatementReport, in order

    @property
    def kept(self):
        return [statement for statement in self.statements if statement.kept]

    @property
    def dropped(self):
        return [statement for statement in self.statements if not statement.kept]

    def summary(self):
        """Lines a student reads about this cell."""
        title = f"code cell {self.number}" + (f" `{self.first_line}`" if self.first_line else " (empty)")
        lines = []
        if self.removed_lines:
            shown = ", ".join(f"line {line} `{_short(text)}`" for line, text in self.removed_lines[:5])
            more = f" and {len(self.removed_lines) - 5} more" if len(self.removed_lines) > 5 else ""
            lines.append(f"  shell/magic lines removed: {shown}{more}")
        if self.error:
            lines.append(f"  not used: {self.error}; whatever it defines is missing")
        for statement in self.statements[:SUMMARY_STATEMENTS_PER_CELL]:
            lines.append("  " + statement.describe())
        hidden = self.statements[SUMMARY_STATEMENTS_PER_CELL:]
        if hidden:
            kept = sum(statement.kept for statement in hidden)
            lines.append(f"  ... and {len(hidden)} more statements ({kept} kept, {len(hidden) - kept} dropped)")
        return [title + ":", *lines] if lines else [title + ": nothing in it"]


def _short(text, limit=50):
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class NotebookBuild:
    """The question modules built from a notebook and the cell-by-cell report of how."""

    name: str  # the notebook's file name
    modules: dict  # module name ("q1") -> source text; a question without any of its names has none
    cells: list  # CellReport of every code cell, in order
    missing: dict = field(default_factory=dict)  # module -> {exported name: why it is missing}, built or not

    def summary(self):
        """Text lines a student can read: what was built, what is missing, then every code cell."""
        built = ", ".join(f"{module}.py" for module in self.modules) or "no module"
        lines = [f"notebook {self.name}: {len(self.cells)} code cells; built {built}"]
        for module, names in self.missing.items():
            if module in self.modules:
                lines.extend(f"{module}: `{name}` is missing: {why}" for name, why in names.items())
            else:
                lines.append(f"{module}: not built, no kept code defines any of {', '.join(names)} (the question counts as missing)")
        for cell in self.cells:
            lines.extend(cell.summary())
        return lines

    def write(self, folder):
        """Write every module as `<module>.py` under `folder`; the paths written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for module, source in self.modules.items():
            path = folder / f"{module}.py"
            path.write_text(source, encoding="utf-8")
            paths.append(path)
        return paths
