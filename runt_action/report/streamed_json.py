"""JSON text of a large value streamed from its file, byte for byte what ``json`` writes.

The .ipynb writer (report/ipynb.py) encodes the notebook with ``json.JSONEncoder.iterencode``
and writes the pieces as they come; a restored artifact (:class:`~runt_action.blobs.BlobText`)
stands in the notebook as a marker string (:func:`marker_for`), and :func:`splice` replaces the
marker's encoding in those pieces with the value's, escaped piece by piece: as one JSON string,
or, for the MIME types nbformat splits into lines, as the list of its lines
(``str.splitlines(keepends=True)``, a ``\\r\\n`` split across pieces kept whole). The
tests compare the result with ``json`` on the whole value.
"""

from __future__ import annotations

import itertools
import json
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from runt_action.blobs import BlobText

__all__ = ["encode_lines", "encode_string", "marker_for", "splice"]

_encode: Callable[[str], str] = json.encoder.encode_basestring  # ensure_ascii=False's
_BREAKS: Final = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # str.splitlines'
_PREFIX: Final = "\x00runt-blob:"
_MARKER = re.compile(re.escape(_encode(_PREFIX))[:-1] + r"(\d+)\"")
_blobs: weakref.WeakValueDictionary[int, BlobText] = weakref.WeakValueDictionary()
_ids = itertools.count()


def marker_for(blob: BlobText) -> str:
    """A string standing for ``blob`` in a document :func:`splice` will write."""
    key = next(_ids)
    _blobs[key] = blob
    return f"{_PREFIX}{key}"


def encode_string(pieces: Iterable[str]) -> Iterator[str]:
    """``json.dumps(''.join(pieces), ensure_ascii=False)``, in pieces."""
    yield '"'
    for piece in pieces:
        yield _encode(piece)[1:-1]
    yield '"'


def encode_lines(pieces: Iterable[str], separator: str) -> Iterator[str]:
    """The items of ``json`` encoding ``''.join(pieces).splitlines(True)`` as a list, joined
    by ``separator`` (the brackets are the caller's)."""
    first, open_item, carry = True, False, ""
    for piece in itertools.chain(pieces, [None]):
        text = carry + piece if piece is not None else carry
        carry = ""
        if piece is not None and text.endswith("\r"):
            text, carry = text[:-1], "\r"  # it may be the first half of a "\r\n"
        for line in text.splitlines(True):
            if not open_item:
                yield '"' if first else separator + '"'
                first, open_item = False, True
            yield _encode(line)[1:-1]
            if line[-1] in _BREAKS:
                yield '"'
                open_item = False
    if open_item:
        yield '"'


def splice(pieces: Iterable[str]) -> Iterator[str]:
    """``pieces`` (from ``iterencode``) with each marker's encoding replaced by its value's:
    a list item alone in its list (``[`` + indent before it) is the list of the value's
    lines, anything else the value as one string."""
    for piece in pieces:
        found = _MARKER.search(piece) if "runt-blob:" in piece else None
        if found is None:
            yield piece
            continue
        blob = _blobs.get(int(found.group(1)))
        if blob is None:  # not ours (a cell printed such a string): leave it
            yield piece
            continue
        before = piece[: found.start()]
        yield before
        if before.rstrip(" \n").endswith("[") and "\n" in before:
            indent = before[before.rindex("\n") :]
            yield from encode_lines(blob.chunks(), "," + indent)
        else:
            yield from encode_string(blob.chunks())
        yield from splice([piece[found.end() :]])
