"""Which notebooks ``runt-automate test PATH...`` runs: files, directories, globs.

Directories are walked recursively; ``.ipynb_checkpoints``, hidden directories and
``runt-output/`` (our own results) are skipped; ``--ignore GLOB`` drops matching paths (matched
against the path as found and each of its parents, as pytest's ``--ignore-glob``). The order is
sorted and deterministic. Nothing found is bad input (exit 2).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path

from runt_action.errors import UsageError

__all__ = ["NOTEBOOK_SUFFIXES", "discover"]

NOTEBOOK_SUFFIXES = (".yml", ".yaml", ".ipynb")
SKIPPED_DIRS = (".ipynb_checkpoints", "runt-output", "node_modules", "__pycache__")


def discover(paths: Sequence[str], ignore: Sequence[str] = ()) -> list[Path]:
    """The notebooks under ``paths``, each once, sorted; UsageError when there are none."""
    if not paths:
        raise UsageError("runt-automate test: no PATH given (files, directories or globs)")
    found: set[Path] = set()
    for given in paths:
        matches = sorted(glob.glob(given, recursive=True)) if glob.has_magic(given) else [given]
        if not matches:
            raise UsageError(f"runt-automate test: {given}: no such file or directory")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                found.update(_walk(path))
            elif not path.exists():
                raise UsageError(f"runt-automate test: {given}: no such file or directory")
            elif path.suffix.lower() in NOTEBOOK_SUFFIXES:
                found.add(path)
    notebooks = sorted(p for p in found if not _ignored(p, ignore))
    if not notebooks:
        shown = " ".join(paths)
        raise UsageError(
            f"runt-automate test: no notebook (.yml, .yaml, .ipynb) found in {shown}"
            + (f" (after --ignore {' '.join(ignore)})" if ignore else "")
        )
    return notebooks


def _walk(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in files:
            if name.lower().endswith(NOTEBOOK_SUFFIXES) and not name.startswith("."):
                yield Path(folder) / name


def _ignored(path: Path, patterns: Sequence[str]) -> bool:
    candidates = [path.as_posix(), *(p.as_posix() for p in path.parents if p != Path("."))]
    return any(
        fnmatch(c, pat) or fnmatch(c, pat.rstrip("/")) for pat in patterns for c in candidates
    )
