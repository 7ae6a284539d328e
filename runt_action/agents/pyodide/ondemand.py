"""Pyodide distribution packages a notebook needs but the install lacks, fetched before a run.

Under GitHub Actions the runner has a network, so a cell that imports a package of Pyodide's
distribution the image does not bake (scipy, say) should just work there. Before Deno starts,
the cells' imports and the notebook's packages are mapped through pyodide-lock.json (its
``imports``), and the missing ones are fetched by fetch.py: from Pyodide's CDN (or
``RUNT_PYODIDE_PACKAGE_BASE_URL``), every file checked against the lock's sha256, all or
nothing, into the install where ``loadPackage`` finds them. Deno's Pyodide itself would check
nothing (its integrity check is the browser's). The caller shows what came (a ``::notice``);
offline, the import fails with the usual clear error.

``RUNT_PYODIDE_FETCH``: ``1`` on, ``0`` off; default on under GitHub Actions only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runt_action.agents.pyodide import paths
from runt_action.agents.pyodide.fetch import CDN_URL, FetchReport, fetch_packages, read_lock
from runt_action.packages import imported_modules

__all__ = ["enabled", "fetch_missing", "missing_packages"]


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    explicit = env.get("RUNT_PYODIDE_FETCH", "").strip().lower()
    if explicit:
        return explicit not in ("0", "false", "no", "off")
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def missing_packages(
    sources: Iterable[str], requirements: Iterable[str], directory: Path
) -> list[str]:
    """Names of the lock's packages the cells import or the requirements name, not local."""
    packages = read_lock(directory)
    by_import: dict[str, str] = {}
    for name, entry in packages.items():
        for module in entry.get("imports") or []:
            by_import.setdefault(str(module), name)
    wanted: dict[str, None] = {}
    for source in sources:
        for module in imported_modules(source):
            if module in by_import:
                wanted.setdefault(by_import[module], None)
    for text in requirements:
        try:
            name = canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            continue
        if name in packages:
            wanted.setdefault(name, None)
    return [n for n in wanted if not _local(packages[n], directory)]


def _local(entry: dict[str, Any], directory: Path) -> bool:
    return (directory / str(entry.get("file_name", ""))).is_file()


def fetch_missing(
    sources: Iterable[str],
    requirements: Iterable[str],
    directory: Path,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[str], FetchReport, str]:
    """(names asked for, what was fetched, from where); raises PackageFetchError."""
    env = os.environ if environ is None else environ
    names = missing_packages(sources, requirements, directory)
    base = env.get("RUNT_PYODIDE_PACKAGE_BASE_URL") or None
    where = base or CDN_URL.format(version=paths.pyodide_version(directory))
    if not names:
        return names, FetchReport(), where
    return names, fetch_packages(names, directory, base), where
