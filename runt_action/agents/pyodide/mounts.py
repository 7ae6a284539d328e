"""Mount specs, ``HOST`` or ``HOST:TARGET``: by default the target is the host's own absolute
path, so a notebook that reads /data/x.csv runs unchanged on both runtimes (the native kernel
sees host paths as they are)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from runt_action.agents.pyodide.protocol import Mount
from runt_action.errors import UsageError

__all__ = ["default_target", "parse_mounts"]


def default_target(host: str) -> str:
    """The host directory's own absolute path (resolved), e.g. /home/me/data."""
    return str(Path(host).expanduser().resolve())


def parse_mounts(specs: Iterable[str | os.PathLike[str]], readonly: bool = False) -> list[Mount]:
    mounts = []
    for spec in specs:
        text = os.fspath(spec)
        host, sep, target = text.partition(":")
        if not sep:
            target = default_target(host)
        if not host or not target.startswith("/"):
            raise UsageError(f"bad mount {text!r}: expected HOST or HOST:/absolute/target")
        path = Path(host).expanduser().resolve()
        if not path.is_dir():
            raise UsageError(f"mount source {host!r} is not a directory")
        mounts.append(Mount(str(path), target.rstrip("/") or "/", readonly))
    return mounts
