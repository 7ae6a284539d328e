"""Every file a run will write can be written: checked before the first cell (exit 2).

Without this, a run whose outputs cannot be written (``docker run --user 1001`` on a
root-owned checkout, a read-only mount, an output path under a file) runs every cell and only
then fails with exit 3. Nothing is created here: each path is judged by what exists now, with
the effective uid (``os.access(..., effective_ids=True)``; root passes unless the file system
is read-only):

- an existing regular file is replaced atomically (report/files.py), so its directory must be
  writable; appended (the step summary) or written through (a device, a FIFO), the file itself;
- a new file or directory is created with its missing parents, so the nearest directory that
  exists must be writable;
- an existing directory (``--output-dir``) must be writable, and a file where a directory is
  needed is refused. A directory where a file is needed is left to the writer (exit 3 after
  everything else was written, as before).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from runt_action.errors import UsageError

__all__ = ["check_writable"]

_WX = os.W_OK | os.X_OK


def check_writable(targets: Iterable[tuple[str, Path | None, str]]) -> None:
    """``targets``: (what, path, kind) with kind ``file`` (replaced atomically), ``append``
    (appended or written through) or ``dir``; None paths are skipped. Raises UsageError, one
    line naming the first path that cannot be written and why."""
    for what, path, kind in targets:
        if path is None:
            continue
        problem = _problem(Path(path), kind)
        if problem is not None:
            raise UsageError(f"cannot write {what} {path}: {problem}")


def _access(path: Path, mode: int) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)  # pragma: no cover - every POSIX system we run on has it


def _who() -> str:
    return f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "this user"


def _problem(path: Path, kind: str) -> str | None:
    try:
        st = os.stat(path)  # follows symlinks, as the writers do
    except FileNotFoundError:
        return _creatable(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    if kind == "dir":
        if not stat.S_ISDIR(st.st_mode):
            return "it is not a directory"
        return None if _access(path, _WX) else f"the directory is not writable by {_who()}"
    if stat.S_ISDIR(st.st_mode):
        # Left to the writer, which refuses it after everything else was written (exit 3,
        # tests/faults/test_special_paths.py): what is there is not ours to judge early.
        return None
    if kind == "file" and stat.S_ISREG(st.st_mode):
        # Replaced by a rename: the directory, not the file, decides.
        parent = Path(os.path.realpath(path)).parent
        if not _access(parent, _WX):
            return f"its directory {parent} is not writable by {_who()}"
        return None
    return None if _access(path, os.W_OK) else f"the file is not writable by {_who()}"


def _creatable(path: Path) -> str | None:
    """A path that does not exist yet: its nearest existing ancestor is a writable directory."""
    ancestor = Path(os.path.realpath(path)).parent
    while True:
        try:
            st = os.stat(ancestor)
            break
        except FileNotFoundError:
            if ancestor.parent == ancestor:
                return "no directory of it exists"
            ancestor = ancestor.parent
        except OSError as exc:
            return f"{ancestor}: {exc.strerror or exc}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{ancestor} is not a directory"
    if not _access(ancestor, _WX):
        return f"{ancestor} is not writable by {_who()}"
    return None
