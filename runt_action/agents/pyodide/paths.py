"""Where Deno, the bridge, Pyodide and the snapshot cache live.

Pyodide is installed next to the bridge by scripts/setup-pyodide.sh, or under
``$RUNT_PYODIDE_HOME`` (the container image keeps it outside the Python package).

Environment: RUNT_PYODIDE_HOME (install dir), RUNT_PYODIDE_CACHE (snapshot cache, default
~/.cache/runt-action), RUNT_DENO (deno binary), RUNT_PYODIDE_CDN=1 (let Pyodide download
packages missing locally from its CDN; see engine.py).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

from runt_action.errors import RuntimeAgentError

__all__ = [
    "BRIDGE_DIR",
    "cache_dir",
    "find_deno",
    "pyodide_dir",
    "pyodide_version",
    "snapshot_path",
]

BRIDGE_DIR = Path(__file__).resolve().parent / "bridge"
# Files whose content is baked into a memory snapshot: change one, get a new snapshot.
_SNAPSHOT_INPUTS = ("worker.mjs", "runtime.py")


def find_deno() -> str:
    """The deno binary: $RUNT_DENO, the `deno` wheel, next to this Python, or PATH."""
    explicit = os.environ.get("RUNT_DENO")
    if explicit:
        return explicit
    try:
        finder = importlib.import_module("deno")
        found = str(finder.find_deno_bin())
        if os.path.isfile(found):
            return found
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    beside = Path(sys.prefix) / "bin" / "deno"
    if beside.is_file():
        return str(beside)
    on_path = shutil.which("deno")
    if on_path:
        return on_path
    raise RuntimeAgentError("deno not found: install the `deno` Python package (make setup)")


def pyodide_dir() -> Path:
    """The directory holding pyodide.mjs (npm package, or the full distribution over it)."""
    home = os.environ.get("RUNT_PYODIDE_HOME")
    base = Path(home) if home else BRIDGE_DIR
    path = base / "node_modules" / "pyodide"
    if not (path / "pyodide.mjs").is_file():
        raise RuntimeAgentError(
            f"Pyodide is not installed in {path}: run scripts/setup-pyodide.sh (make setup)"
        )
    return path


def pyodide_version(directory: Path | None = None) -> str:
    package = (directory or pyodide_dir()) / "package.json"
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


def cache_dir() -> Path:
    explicit = os.environ.get("RUNT_PYODIDE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "runt-action"


def snapshot_path(directory: Path | None = None, cache: Path | None = None) -> Path:
    """The snapshot file for this Pyodide version and this bridge code."""
    digest = hashlib.sha256()
    for name in _SNAPSHOT_INPUTS:
        digest.update((BRIDGE_DIR / name).read_bytes())
    version = pyodide_version(directory)
    return (cache or cache_dir()) / f"pyodide-{version}-{digest.hexdigest()[:16]}.snapshot"
