"""Mount specs (``host`` or ``host:target``) as the reference agent reads them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from runt_action.agents.pyodide.protocol import Mount
from runt_action.errors import UsageError

__all__ = ["default_target", "parse_mounts"]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def default_target(host: str) -> str:
    """``/mnt/<host path with every [^a-zA-Z0-9_-] replaced by _>``, e.g. /mnt/_tmp_data."""
    return "/mnt/" + _UNSAFE.sub("_", host)


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
