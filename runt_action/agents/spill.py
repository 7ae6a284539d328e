"""Parse a JSON message with its large string values spilled to files, never held twice.

A kernel's 100 MB animation arrives as one ~100 MB JSON frame; ``json.loads`` would hold the
frame and a 100 MB ``str`` at once (and the upload a third copy). :func:`loads_spilling` scans
the frame instead: every string value longer than a threshold (in encoded bytes) is decoded
piece by piece straight into a temporary file and a :class:`SpilledText` (path, length, size)
stands in its place; the rest, now small, goes through ``json.loads``. The result equals
``json.loads(frame)`` once each :class:`SpilledText` is read back (the tests prove it for
escapes, non-ASCII text, surrogate pairs split across pieces, nesting and non-string values).

Pieces are cut only where no escape (``\\n``, ``\\uXXXX``, a ``\\uD83D\\uDE00`` pair) and no
UTF-8 sequence is split. Keys are never spilled. Sans-I/O apart from the files it writes: the
caller owns them (:meth:`SpilledText.discard`).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "PIECE_BYTES",
    "SPILL_THRESHOLD_BYTES",
    "SpilledText",
    "discard_spilled",
    "loads_spilling",
    "read_back_outside",
]

SPILL_THRESHOLD_BYTES: Final = 1024 * 1024
"""A string value of more encoded bytes than this is spilled (it must become an artifact
anyway: more than half a sync event)."""
PIECE_BYTES: Final = 256 * 1024
"""Encoded bytes decoded at a time."""

_QUOTE = re.compile(rb'"')
_NON_SPACE = re.compile(rb"[^ \t\r\n]")
_ESCAPE = re.compile(rb"\\(?:u[0-9a-fA-F]{4}|.)", re.DOTALL)
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LOW_SURROGATE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_BACKSLASH = 0x5C


@dataclass(frozen=True, slots=True)
class SpilledText:
    """A string value kept in a file as UTF-8 (lone surrogates as ``surrogatepass`` does)."""

    path: Path
    chars: int
    nbytes: int

    def chunks(self, size: int = PIECE_BYTES) -> Iterator[str]:
        """The text in pieces of about ``size`` bytes (never splitting a character)."""
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        with self.path.open("rb") as f:
            while block := f.read(size):
                if text := decoder.decode(block):
                    yield text
        if tail := decoder.decode(b"", final=True):
            yield tail

    def read(self) -> str:
        """The whole text (for a value that must be a ``str`` after all, e.g. in metadata)."""
        return self.path.read_bytes().decode("utf-8", "surrogatepass")

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def loads_spilling(
    frame: bytes | bytearray | memoryview,
    *,
    directory: Path | None = None,
    threshold: int = SPILL_THRESHOLD_BYTES,
    piece: int = PIECE_BYTES,
) -> Any:
    """``json.loads(frame)`` (UTF-8, undecodable bytes replaced as jupyter_client does) with
    each string value over ``threshold`` encoded bytes as a :class:`SpilledText`."""
    view = memoryview(frame).cast("B")
    marker = f"\x00runt-spill:{uuid.uuid4().hex}:"
    small: list[bytes] = []
    spilled: dict[str, SpilledText] = {}
    pos, end = 0, len(view)
    try:
        while pos < end:
            found = _QUOTE.search(view, pos)
            if found is None:
                small.append(bytes(view[pos:]))
                break
            start = found.start()
            small.append(bytes(view[pos:start]))
            close = _string_end(view, start + 1)
            if close - start - 1 > threshold and not _is_key(view, close + 1):
                name = f"{marker}{len(spilled)}"
                spilled[name] = _spill(view, start + 1, close, directory, piece)
                small.append(json.dumps(name).encode("ascii"))
            else:
                small.append(bytes(view[start : close + 1]))
            pos = close + 1
        value = json.loads(b"".join(small).decode("utf-8", "replace"))
    except BaseException:
        for text in spilled.values():
            text.discard()
        raise
    return _substitute(value, spilled) if spilled else value


def _string_end(view: memoryview, pos: int) -> int:
    """Index of the quote closing the string whose body starts at ``pos``."""
    while True:
        found = _QUOTE.search(view, pos)
        if found is None:
            raise ValueError("unterminated string in a JSON message")
        quote = found.start()
        back = quote - 1
        while view[back] == _BACKSLASH:
            back -= 1
        if (quote - 1 - back) % 2 == 0:  # an even run of backslashes escapes only themselves
            return quote
        pos = quote + 1


def _is_key(view: memoryview, pos: int) -> bool:
    found = _NON_SPACE.search(view, pos)
    return found is not None and view[found.start()] == ord(":")


def _cut(view: memoryview, start: int, stop: int) -> int:
    """A cut after ``start`` (a boundary), at ``stop`` or before when it can, splitting no
    escape, no escaped surrogate pair and no UTF-8 sequence: where the 6 bytes before it hold
    no backslash (the longest escape is ``\\uXXXX``), else at the start of an escape that
    follows no high surrogate, else just past the escape (or pair) at ``start``."""
    for cut in range(stop, max(start, stop - 64), -1):
        if not 0x80 <= view[cut] <= 0xBF and _BACKSLASH not in view[max(0, cut - 6) : cut]:
            return cut
    # Dense escapes: find them from ``start`` (a known boundary) on.
    best: int | None = None
    prev: re.Match[bytes] | None = None
    for found in _ESCAPE.finditer(view, start, stop + 12):
        if found.start() > stop:
            break
        if found.start() > start and not (prev is not None and _pair(prev, found)):
            best = found.start()
        prev = found
    if best is not None:
        return best
    first = _ESCAPE.match(view, start)
    if first is not None:
        second = _ESCAPE.match(view, first.end())
        return second.end() if second is not None and _pair(first, second) else first.end()
    cut = stop
    while cut > start and 0x80 <= view[cut] <= 0xBF:
        cut -= 1
    while cut == start or 0x80 <= view[cut] <= 0xBF:
        cut += 1
    return cut


def _pair(first: re.Match[bytes], second: re.Match[bytes]) -> bool:
    """Two adjacent escapes that json decodes as one character (a surrogate pair)."""
    return (
        first.end() == second.start()
        and _HIGH_SURROGATE.fullmatch(first.group()) is not None
        and _LOW_SURROGATE.fullmatch(second.group()) is not None
    )


def _spill(
    view: memoryview, start: int, stop: int, directory: Path | None, piece: int
) -> SpilledText:
    """Decode the string body ``view[start:stop]`` piece by piece into a new file."""
    fd, name = tempfile.mkstemp(prefix="runt-spill-", dir=directory)
    chars = nbytes = 0
    try:
        with os.fdopen(fd, "wb") as out:
            pos = start
            while pos < stop:
                cut = stop if stop - pos <= piece else _cut(view, pos, pos + piece)
                raw = bytes(view[pos:cut]).decode("utf-8", "replace")
                text = json.loads('"' + raw + '"')
                data = text.encode("utf-8", "surrogatepass")
                out.write(data)
                chars += len(text)
                nbytes += len(data)
                pos = cut
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return SpilledText(Path(name), chars, nbytes)


def _substitute(value: Any, spilled: dict[str, SpilledText]) -> Any:
    if isinstance(value, str):
        return spilled.get(value, value)
    if isinstance(value, dict):
        return {k: _substitute(v, spilled) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, spilled) for v in value]
    return value


def read_back_outside(message: dict[str, Any], key: str = "data") -> None:
    """Keep :class:`SpilledText` only as the values of ``message[key]`` (a MIME bundle, which
    the sink uploads from the file); anything else spilled (a huge print, a huge metadata
    string) is read back, in place, as ``json.loads`` would have made it."""
    for name, value in message.items():
        if name != key:
            message[name] = _read_back(value)
        elif isinstance(value, dict):
            for mime, rep in value.items():
                if not isinstance(rep, SpilledText | str):
                    value[mime] = _read_back(rep)
        else:
            message[name] = _read_back(value)


def _read_back(value: Any) -> Any:
    if isinstance(value, SpilledText):
        text = value.read()
        value.discard()
        return text
    if isinstance(value, dict):
        return {k: _read_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_read_back(v) for v in value]
    return value


def discard_spilled(message: Any) -> None:
    """Remove the files of every :class:`SpilledText` in a message nobody will consume."""
    if isinstance(message, SpilledText):
        message.discard()
    elif isinstance(message, dict):
        for value in message.values():
            discard_spilled(value)
    elif isinstance(message, list):
        for value in message:
            discard_spilled(value)
