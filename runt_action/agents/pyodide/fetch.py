"""Fetch Pyodide distribution packages one file at a time, each checked against the lock.

The npm ``pyodide`` package (pinned with its integrity hash in package-lock.json) ships
``pyodide-lock.json``: every distribution package's ``file_name``, ``sha256`` and ``depends``.
That lock is the trust root, so no hash is ever recorded by hand. For a list of names this
resolves the closure through ``depends``, downloads each file from a base URL (Pyodide's CDN
for the pinned version, or a mirror) into a staging directory beside the install, checks its
sha256 there, and only when every file passed moves them next to ``pyodide.mjs`` (where
``loadPackage`` reads them). Any mismatch or missing file refuses the whole step and leaves
the install as it was.

``python -m runt_action.agents.pyodide.fetch [--base-url URL] [--dir DIR] NAME...``; the set-up
script and the Dockerfile pass ``$PYODIDE_PACKAGES`` and ``$PYODIDE_PACKAGE_BASE_URL``.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from packaging.utils import canonicalize_name

from runt_action.errors import PackageFetchError, RuntActionError, UsageError

__all__ = [
    "CDN_URL",
    "FetchReport",
    "fetch_packages",
    "main",
    "read_lock",
    "resolve_closure",
    "split_names",
]

CDN_URL = "https://cdn.jsdelivr.net/pyodide/v{version}/full/"
_TIMEOUT_S = 120.0
_CHUNK = 1 << 20

Opener = Callable[[str], IO[bytes]]


@dataclass
class FetchReport:
    """What a fetch did: files downloaded and verified (name, bytes), files already there."""

    fetched: list[tuple[str, int]] = field(default_factory=list)
    present: list[str] = field(default_factory=list)

    @property
    def fetched_bytes(self) -> int:
        return sum(size for _, size in self.fetched)


def split_names(text: str) -> list[str]:
    """``PYODIDE_PACKAGES``: names separated by spaces and/or commas."""
    return [name for name in re.split(r"[\s,]+", text) if name]


def read_lock(directory: Path, lock: str | None = None) -> dict[str, Any]:
    """The lock's packages by canonical name (raises when there is no usable lock).

    ``lock`` (a path or URL) replaces the install's own pyodide-lock.json as what the files
    are checked against: a private mirror's lock, which must name the same file names."""
    path: Path | str = directory / "pyodide-lock.json" if lock is None else lock
    try:
        if isinstance(path, str) and "://" in path:
            with urllib.request.urlopen(path, timeout=_TIMEOUT_S) as response:
                data = json.loads(response.read())
        else:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        packages = data["packages"]
        if not isinstance(packages, dict):
            raise TypeError("packages is not an object")
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError) as exc:
        raise PackageFetchError(f"cannot read the Pyodide lock {path}: {exc}") from None
    return {canonicalize_name(str(name)): entry for name, entry in packages.items()}


def resolve_closure(names: Sequence[str], packages: dict[str, Any]) -> list[dict[str, Any]]:
    """The lock entries of ``names`` and everything they depend on, each once, in order."""
    unknown = [n for n in names if canonicalize_name(n) not in packages]
    if unknown:
        raise UsageError("; ".join(_unknown_message(n, packages) for n in unknown))
    queue = deque(canonicalize_name(n) for n in names)
    seen: set[str] = set()
    closure: list[dict[str, Any]] = []
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        entry = packages.get(name)
        if entry is None:  # a broken lock: a dependency it does not list
            raise PackageFetchError(f"the Pyodide lock lists no package {name!r} (a dependency)")
        closure.append(entry)
        queue.extend(canonicalize_name(str(d)) for d in entry.get("depends") or [])
    return closure


def _unknown_message(name: str, packages: dict[str, Any]) -> str:
    """Not in the lock: the closest names, and the package that provides it as an import."""
    wanted = canonicalize_name(name)
    by_import = [
        str(entry.get("name", key))
        for key, entry in sorted(packages.items())
        if name in (entry.get("imports") or [])
    ]
    close = by_import or difflib.get_close_matches(wanted, sorted(packages), n=3, cutoff=0.6)
    hint = f": did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{name!r} is not a package of this Pyodide distribution{hint}"


def fetch_packages(
    names: Sequence[str],
    directory: Path,
    base_url: str | None = None,
    *,
    opener: Opener | None = None,
    log: Callable[[str], None] | None = None,
    lock: str | None = None,
) -> FetchReport:
    """Download and verify the closure of ``names`` into ``directory``, all or nothing."""
    packages = read_lock(directory, lock)
    version = _version(directory)
    base = base_url or CDN_URL.format(version=version)
    report = FetchReport()
    closure = resolve_closure(names, packages)
    todo: list[dict[str, Any]] = []
    for entry in closure:
        file_name = _safe_file_name(entry)
        if _sha256_of(directory / file_name) == str(entry["sha256"]).lower():
            report.present.append(file_name)
        else:
            todo.append(entry)
    if not todo:
        return report
    try:
        staging = Path(tempfile.mkdtemp(prefix=".runt-fetch-", dir=directory.parent))
    except OSError as exc:
        raise PackageFetchError(f"cannot install into {directory}: {exc}") from None
    try:
        for entry in todo:
            file_name = _safe_file_name(entry)
            url = urllib.parse.urljoin(base.rstrip("/") + "/", urllib.parse.quote(file_name))
            size = _download_verified(url, staging / file_name, str(entry["sha256"]), opener)
            report.fetched.append((file_name, size))
            if log is not None:
                log(
                    f"{entry.get('name', file_name)} {entry.get('version', '')}: {file_name} "
                    f"({size / 1e6:.1f} MB) sha256 verified"
                )
        moved: list[Path] = []
        try:
            for file_name, _ in report.fetched:
                target = directory / file_name
                os.replace(staging / file_name, target)
                moved.append(target)
        except OSError as exc:
            for path in moved:
                path.unlink(missing_ok=True)
            raise PackageFetchError(f"cannot install into {directory}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _version(directory: Path) -> str:
    try:
        return str(json.loads((directory / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError) as exc:
        raise PackageFetchError(f"cannot read the Pyodide version in {directory}: {exc}") from None


def _safe_file_name(entry: dict[str, Any]) -> str:
    """The lock's file name, refused if it could point outside the install directory."""
    name = str(entry.get("file_name", ""))
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise PackageFetchError(f"the Pyodide lock has an unsafe file name {name!r}")
    return name


def _sha256_of(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _download_verified(url: str, target: Path, want: str, opener: Opener | None) -> int:
    """Stream ``url`` into ``target`` while hashing; a mismatch raises (the caller cleans up)."""
    digest = hashlib.sha256()
    size = 0
    try:
        response = opener(url) if opener else urllib.request.urlopen(url, timeout=_TIMEOUT_S)
        with response, target.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (OSError, urllib.error.URLError) as exc:
        raise PackageFetchError(f"could not download {url}: {exc}") from None
    got = digest.hexdigest()
    if got != want.lower():
        raise PackageFetchError(
            f"{target.name} from {url} has sha256 {got}, the Pyodide lock says {want}: "
            "refused, nothing was installed"
        )
    return size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runt_action.agents.pyodide.fetch",
        description="Fetch Pyodide packages (and their dependencies), each file checked "
        "against pyodide-lock.json's sha256 before it is installed.",
    )
    parser.add_argument("names", nargs="*", help="package names (default: $PYODIDE_PACKAGES)")
    parser.add_argument(
        "--base-url",
        default=os.environ.get("PYODIDE_PACKAGE_BASE_URL") or None,
        help="where the files are (default: $PYODIDE_PACKAGE_BASE_URL, else Pyodide's CDN)",
    )
    parser.add_argument("--dir", type=Path, help="the Pyodide install (default: the runtime's)")
    parser.add_argument(
        "--lock",
        default=os.environ.get("PYODIDE_PACKAGE_LOCK") or None,
        help="check against this lock (path or URL) instead of the install's: a private "
        "mirror's own lock with the same file names (default: $PYODIDE_PACKAGE_LOCK)",
    )
    args = parser.parse_args(argv)
    names = [n for text in args.names for n in split_names(text)]
    names = names or split_names(os.environ.get("PYODIDE_PACKAGES", ""))
    prog = "fetch-pyodide-packages"
    if not names:
        print(f"[{prog}] no packages asked for", flush=True)
        return 0
    try:
        if args.dir is None:
            from runt_action.agents.pyodide import paths

            args.dir = paths.pyodide_dir()
        report = fetch_packages(
            names,
            args.dir,
            args.base_url,
            log=lambda m: print(f"[{prog}] {m}", flush=True),
            lock=args.lock,
        )
    except RuntActionError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"[{prog}] {len(report.fetched)} file(s) fetched "
        f"({report.fetched_bytes / 1e6:.1f} MB), {len(report.present)} already there",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
