"""Shell (`!`), magic (`%`, `%%`) and help (`?`) lines of IPython, removed before a cell is parsed.

Only lines where a logical line starts count, so a `%` that continues an expression inside
brackets, or a line of a multi-line string, stays. Logical line starts come from one
regular-expression scan of strings, comments and brackets (linear and at C speed, where
`tokenize` reads about 200 kB a second). A line inside an indented block becomes `pass`
at its indentation so the block still parses; a shell line continued with a backslash
takes its continuation lines with it.
"""
import re

_MAGIC_CANDIDATE = re.compile(
    r"[ \t]*(?:[!%?]|[\w.]+\?\??[ \t]*$|[\w.]+(?:[ \t]*,[ \t]*[\w.]+)*[ \t]*=[ \t]*[!%])"
)
_TRIPLE_DOUBLE = r'"""(?:[^"\\]|\\.|"(?!""))*(?:"""|\Z)'
_TRIPLE_SINGLE = r"'''(?:[^'\\]|\\.|'(?!''))*(?:'''|\Z)"
_SINGLE_LINE = r'"(?:[^"\\\n]|\\.)*"?' + r"|'(?:[^'\\\n]|\\.)*'?"
_SCAN = re.compile(
    rf"(?P<comment>#[^\n]*)|(?P<string>{_TRIPLE_DOUBLE}|{_TRIPLE_SINGLE}|{_SINGLE_LINE})"
    r"|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<continued>\\\n)|(?P<newline>\n)",
    re.DOTALL,
)


def logical_line_starts(source):
    """Line numbers (from 1) where a logical line starts: not inside a string, brackets or a backslash continuation."""
    starts, line, depth = {1}, 1, 0
    for match in _SCAN.finditer(source):
        kind = match.lastgroup
        if kind == "string":
            line += match.group().count("\n")
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "continued":
            line += 1
        elif kind == "newline":
            line += 1
            if depth == 0:
                starts.add(line)
    return starts


def strip_magics(source):
    """(source with shell and magic lines blanked, removed (line, text) pairs, cell magic or "")."""
    lines = source.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        return "", [], first
    candidates = [number for number, line in enumerate(lines, 1) if _MAGIC_CANDIDATE.match(line)]
    if not candidates:
        return source, [], ""
    starts = logical_line_starts(source)
    removed, skip_until = [], 0
    for number in candidates:
        if number <= skip_until or number not in starts:
            continue
        last = number
        while last < len(lines) and lines[last - 1].rstrip().endswith("\\"):
            last += 1  # a shell line continued with a backslash
        for line in range(number, last + 1):
            text = lines[line - 1]
            removed.append((line, text.strip()))
            indent = text[: len(text) - len(text.lstrip())]
            lines[line - 1] = indent + "pass" if indent and line == number else ""
        skip_until = last
    return "\n".join(lines), removed, ""
