"""Writing a result file without ever replacing what is not ours to replace.

A reader (or a crash) must never see half a notebook or summary, so a regular file is written
to a temporary file next to it and renamed over it. But a rename replaces whatever the path is:
``--summary /dev/null`` run as root once turned the null device into a regular file. So the
path's type decides, as ``cp`` does:

- a regular file, or nothing yet: atomic write-then-rename;
- a symlink: followed, and its target written by the same rules (a dangling link creates it);
- a character/block device or a FIFO: written through (opened for writing, truncated where that
  applies), never replaced; a FIFO blocks until someone reads it, exactly as ``cp`` does;
- anything else (a directory, a socket): an ``OSError`` that names the path and what it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["write_file", "write_text_atomic"]

_BATCH = 1 << 16  # streamed text is written in chunks of about this many characters


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def write_file(path: Path, data: str | bytes | Iterable[str]) -> None:
    """Write ``data`` (text is UTF-8) to ``path``: atomically when it is, or will be, regular.

    ``data`` may be an iterable of text pieces (``json.JSONEncoder.iterencode``): written as
    it comes, so a large document never exists whole in memory as one string."""
    payload = _chunks(data)
    target = Path(os.path.realpath(path))  # follows every symlink; a dangling one too
    try:
        st = os.stat(target)
    except FileNotFoundError:
        _replace_atomically(target, payload, mode=0o644)
        return
    if stat.S_ISREG(st.st_mode):
        _replace_atomically(target, payload, mode=stat.S_IMODE(st.st_mode))
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        _write_through(target, payload)
    else:
        kind = _describe(st.st_mode)
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
        raise OSError(code, f"{kind}, not replaced", str(path))


def _chunks(data: str | bytes | Iterable[str]) -> Iterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    if isinstance(data, str):
        yield data.encode("utf-8")
        return
    batch: list[str] = []
    size = 0
    for piece in data:
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH:
            yield "".join(batch).encode("utf-8")
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode("utf-8")


def _write_through(path: Path, payload: Iterable[bytes]) -> None:
    """Open, truncate where that applies (O_TRUNC is ignored by FIFOs and ttys), write all."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
    try:
        for chunk in payload:
            view = memoryview(chunk)
            while view:
                written = os.write(fd, view)
                view = view[written:]
    finally:
        os.close(fd)


def _replace_atomically(path: Path, payload: Iterable[bytes], *, mode: int) -> None:
    """Temporary file next to ``path``, fsync, rename over it; nothing half-written is seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in payload:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """The old name of :func:`write_file` for text; same rules (atomic for regular files)."""
    write_file(path, text)
