"""Student ids from file names, and file names shown as text.

A student id is the submission's file or folder name (without `.zip`), made safe for
every writer (CSV, HTML, JSON, a folder name) by percent-encoding, as `%XX` per byte
(upper-case hex), exactly these bytes of the name:

- bytes that are not valid UTF-8 (`caf\\xe9.zip` -> `caf%E9`);
- `%` itself (`100%` -> `100%25`), so the rule can be undone;
- control characters (C0, DEL, C1), the line and paragraph separators and the
  bidirectional-text controls, by the bytes of their UTF-8 encoding (`a\\nb` -> `a%0Ab`);
- a leading `.` and leading or trailing spaces (no id is hidden, `.` or `..`).

Everything else is kept, so ordinary and accented names are their own id. The rule is
the same on every run, so a re-run finds the same student; `original_name(id)` undoes
it. An id whose UTF-8 encoding would exceed `MAX_ID_BYTES` (a folder name has at most
255 bytes) is cut and ends in `~` and a hash of the whole name instead: it is stable,
not reversible, and the student's record keeps the source path.
"""
import hashlib
import os
import re

MAX_ID_BYTES = 200  # room for a "-2" duplicate suffix and staging prefixes
UNNAMED = "unnamed"
_SEPARATORS_AND_BIDI = frozenset("\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def _percent(text):
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8", "surrogateescape"))


def _needs_escape(character):
    code = ord(character)
    return (
        character == "%" or code < 0x20 or 0x7F <= code <= 0x9F or 0xDC80 <= code <= 0xDCFF
        or character in _SEPARATORS_AND_BIDI
    )


def student_id(name):
    """The id for a file name (a str as os functions return it, or bytes)."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", "surrogateescape")  # each undecodable byte becomes one lone surrogate
    escaped = [_percent(character) if _needs_escape(character) else character for character in text]
    for index in range(len(escaped)):
        if escaped[index] != " ":
            break
        escaped[index] = "%20"
    for index in reversed(range(len(escaped))):
        if escaped[index] != " ":
            break
        escaped[index] = "%20"
    if escaped and escaped[0] == ".":
        escaped[0] = "%2E"
    student = "".join(escaped)
    if not student:
        return UNNAMED
    if len(student.encode()) > MAX_ID_BYTES:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        kept = ""
        for part in escaped:  # whole characters and whole %XX groups only
            if len((kept + part).encode()) > MAX_ID_BYTES - len(digest) - 1:
                break
            kept += part
        student = f"{kept}~{digest}"
    return student


def original_name(student):
    """The file name (bytes) an id stands for: `student_id` undone (not for cut ids)."""
    parts, position = [], 0
    for match in _ESCAPE.finditer(student):
        parts.append(student[position : match.start()].encode())
        parts.append(bytes([int(match.group(1), 16)]))
        position = match.end()
    parts.append(student[position:].encode())
    return b"".join(parts)


def printable(text):
    """`text` writable as UTF-8: undecodable bytes of a file name become `\\xNN`."""
    text = str(text)
    if not any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        return text
    return "".join(
        f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c
        for c in text
    )
