"""Streaming reader for tar archives (plain, gzip, bzip2 or xz), fast on many small members.

``tarfile`` spends about 60 us per member header, more than decompressing and decoding
together on a 60,000-image archive; this reader parses ustar, GNU and pax headers directly.
"""
import bz2
import gzip
import lzma
import zlib

_BLOCK = 512
_REGULAR_FILE = (b"0", b"\0", b"7")
_READ_ERRORS = (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile)


def open_decompressed(path):
    """Open a file for reading, decompressing it if its magic bytes say gzip, bzip2 or xz."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path)
    if magic.startswith(b"BZh"):
        return bz2.open(path)
    return open(path, "rb")


def _number(field):
    if field[0] & 0x80:  # GNU base-256 encoding of large values
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    return int(digits, 8) if digits else 0


def _pax_path(records):
    """The ``path`` of pax extended-header records ``b"<len> <key>=<value>\\n" ...``."""
    pos = 0
    while pos < len(records):
        space = records.index(b" ", pos)
        length = int(records[pos:space])
        key, _, value = records[space + 1:pos + length - 1].partition(b"=")
        if key == b"path":
            return value
        pos += length
    return None


def _read_exactly(stream, size, path):
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: truncated tar archive")
    return data


def _header_fields(header, path):
    """``(size, type flag, name)`` of a checked header block."""
    try:
        stored, size = _number(header[148:156]), _number(header[124:136])
    except ValueError:
        raise ValueError(f"{path}: not a tar archive or corrupt tar header") from None
    unsigned = sum(header) - sum(header[148:156]) + 8 * 32  # the checksum field counts as spaces
    if stored != unsigned and stored != unsigned - 256 * sum(
            b > 127 for b in header[:148] + header[156:]):  # some writers sum signed bytes
        raise ValueError(f"{path}: not a tar archive or corrupt tar header")
    name = header[:100].split(b"\0", 1)[0]
    if header[257:263] == b"ustar\x00" and header[345]:  # POSIX ustar: prefix/name
        name = header[345:500].split(b"\0", 1)[0] + b"/" + name
    return size, header[156:157], name


def _members(stream, path, wanted):
    long_name = None
    while True:
        header = stream.read(_BLOCK)
        if len(header) < _BLOCK or not any(header):
            return
        size, kind, name = _header_fields(header, path)
        name, long_name = long_name or name, None
        padded = -(-size // _BLOCK) * _BLOCK
        if kind in (b"L", b"x"):  # GNU long name / pax header: the name of the next member
            data = _read_exactly(stream, padded, path)[:size]
            long_name = data.rstrip(b"\0") if kind == b"L" else _pax_path(data)
            continue
        text = name.decode("utf-8", "surrogateescape")
        if kind in _REGULAR_FILE:
            if wanted(text):
                yield text, _read_exactly(stream, padded, path)[:size]
                continue
            yield text, None  # before skipping the data: a caller that only peeks stops here
        _read_exactly(stream, padded, path)


def iter_members(path, wanted):
    """Yield ``(name, data)`` for each regular file of the archive at ``path``, in archive order.

    ``data`` is the member's bytes when ``wanted(name)`` is true, else None (the data is
    skipped). A malformed, truncated or non-tar file raises ``ValueError`` naming ``path``.
    """
    try:
        with open_decompressed(path) as stream:
            yield from _members(stream, path, wanted)
    except _READ_ERRORS as error:
        raise ValueError(f"{path}: corrupt or truncated archive ({error})") from error
