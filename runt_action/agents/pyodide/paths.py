"""Where Deno, the bridge, Pyodide and the snapshot cache live.

Pyodide is installed next to the bridge by scripts/setup-pyodide.sh, or under
``$RUNT_PYODIDE_HOME`` (the container image keeps it outside the Python package).

Environment: RUNT_PYODIDE_HOME (install dir), RUNT_PYODIDE_CACHE (snapshot cache, default
~/.cache/runt-action), RUNT_DENO (deno binary), RUNT_PYODIDE_CDN=1 (let Pyodide download
packages missing locally from its CDN; see engine.py).

prepare.py also compiles Pyodide's standard library (``python_stdlib-<version>.pyc.zip``) into
the install dir, or into the cache when the install dir is read-only; a boot uses it when it
is there and whole, Pyodide's source-only zip otherwise.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runt_action.errors import RuntimeAgentError

__all__ = [
    "BRIDGE_DIR",
    "CompiledStdlib",
    "cache_dir",
    "compiled_stdlib",
    "compiled_stdlib_name",
    "find_deno",
    "pyodide_dir",
    "pyodide_version",
    "snapshot_path",
    "stdlib_builder_digest",
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
    """The directory holding pyodide.mjs (the npm package, and the packages fetch.py added)."""
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


@dataclass(frozen=True, slots=True)
class CompiledStdlib:
    """A whole precompiled stdlib zip and its checksum (from the sidecar prepare.py wrote)."""

    path: Path
    sha256: str


def compiled_stdlib_name(version: str) -> str:
    return f"python_stdlib-{version}.pyc.zip"


def stdlib_builder_digest() -> str:
    """Identifies bridge/stdlib.mjs: a zip built by another version of it is rebuilt."""
    return hashlib.sha256((BRIDGE_DIR / "stdlib.mjs").read_bytes()).hexdigest()[:16]


def compiled_stdlib(
    directory: Path | None = None, cache: Path | None = None
) -> CompiledStdlib | None:
    """The precompiled stdlib for this Pyodide (install dir first, then the cache), or None."""
    directory = directory or pyodide_dir()
    version = pyodide_version(directory)
    name = compiled_stdlib_name(version)
    builder = stdlib_builder_digest()
    for path in (directory / name, (cache or cache_dir()) / name):
        try:
            meta = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
            whole = path.stat().st_size == meta["size"]
            if whole and meta["pyodide"] == version and meta["builder"] == builder:
                return CompiledStdlib(path, str(meta["sha256"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def snapshot_path(
    directory: Path | None = None,
    cache: Path | None = None,
    stdlib: CompiledStdlib | Literal["auto"] | None = "auto",
) -> Path:
    """The snapshot file for this Pyodide version, this bridge code and this stdlib zip.

    The stdlib is part of the key because the snapshot holds zipimport's table of contents
    (file offsets) of the zip it was made with; restoring it over another zip would misread.
    """
    directory = directory or pyodide_dir()
    if stdlib == "auto":
        stdlib = compiled_stdlib(directory, cache)
    digest = hashlib.sha256()
    for name in _SNAPSHOT_INPUTS:
        digest.update((BRIDGE_DIR / name).read_bytes())
    digest.update(b"stdlib:" + (stdlib.sha256.encode() if stdlib is not None else b"stock"))
    version = pyodide_version(directory)
    return (cache or cache_dir()) / f"pyodide-{version}-{digest.hexdigest()[:16]}.snapshot"
