"""A large output value that stays in a file until a writer streams it (imports nothing of ours).

Neutral ground, like ``results.py``: the orchestrator restores a large artifact
(orchestrator/artifacts.py) as a :class:`BlobText` in the output's data instead of a 100 MB
``str``, and each writer streams it: the .ipynb writer escapes it piece by piece
(report/ipynb.py), the HTML report copies it to a side file (report/sidefiles.py), the
summary shows its size. The value is the artifact's bytes read back as the kernel produced
it: ``utf-8`` text as is, or the ``base64`` of an image blob. The file is private to this
process and removed when the last reference to the value goes (or at exit).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import os
import shutil
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["PIECE_BYTES", "BlobText"]

PIECE_BYTES: Final = 3 * 256 * 1024
"""Blob bytes read at a time (a multiple of 3: whole base64 quads)."""


class BlobText:
    """The text value a blob file stands for; owns (and eventually removes) the file."""

    def __init__(self, path: Path, encoding: str, nbytes: int) -> None:
        if encoding not in ("utf-8", "base64"):
            raise ValueError(f"no streamed text for encoding {encoding!r}")
        self.path = path
        self.encoding = encoding
        self.nbytes = nbytes
        weakref.finalize(self, _unlink, str(path))

    @property
    def size(self) -> int:
        """Characters of the value for base64, bytes (a close upper bound) for text."""
        return (self.nbytes + 2) // 3 * 4 if self.encoding == "base64" else self.nbytes

    def chunks(self, size: int = PIECE_BYTES) -> Iterator[str]:
        """The value in pieces (no character split, base64 in whole quads)."""
        size = max(3, size // 3 * 3)
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        with self.path.open("rb") as f:
            while block := f.read(size):
                if self.encoding == "base64":
                    yield base64.b64encode(block).decode("ascii")
                elif text := decoder.decode(block):
                    yield text
        if self.encoding == "utf-8" and (tail := decoder.decode(b"", final=True)):
            yield tail

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes of the blob (an image's header)."""
        with self.path.open("rb") as f:
            return f.read(n)

    def copy_to(self, target: Path) -> None:
        """The blob's bytes to ``target`` (an image blob is the image file itself)."""
        shutil.copyfile(self.path, target)

    def read(self) -> str:
        """The whole value (only for a reader that must have it as one ``str``)."""
        return "".join(self.chunks())

    def __repr__(self) -> str:
        return f"BlobText({self.encoding}, {self.nbytes} bytes)"


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
