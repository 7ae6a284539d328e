"""Where each notebook package comes from on Pyodide, decided before Deno starts.

For every requirement (and, for wheels, their own dependencies), in this order:

1. a wheel in the wheelhouse (``--wheelhouse DIR``, e.g. filled by ``pip download --platform
   pyemscripten_2026_0_wasm32 ...``) whose tags this Pyodide supports (pure, or compiled for
   its wasm platform: see supported_tags) and whose version matches: the worker extracts it
   into site-packages (a wheel needs nothing more than unpacking);
2. the local Pyodide distribution (pyodide-lock.json with the wheel file present: fetched by
   scripts/setup-pyodide.sh with PYODIDE_PACKAGES, see fetch.py): ``pyodide.loadPackage``;
3. with downloads allowed (RUNT_PYODIDE_CDN=1): Pyodide's CDN for a package of its
   distribution, else micropip from PyPI.

Anything left is one MissingPackageError naming each package and how to get it, raised
before the runtime starts. Markers are evaluated for Pyodide (emscripten, wasm32, its Python).
"""

from __future__ import annotations

import email.parser
import json
import os
import shlex
import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from runt_action.errors import MissingPackageError
from runt_action.packages import parse_requirement

__all__ = ["PackagePlan", "plan_packages", "supported_tags", "wasm_platform"]


@dataclass
class PackagePlan:
    """What the worker does before the first cell (sent in the bridge's init)."""

    wheels: list[Path] = field(default_factory=list)  # extracted into site-packages, in order
    load: list[str] = field(default_factory=list)  # pyodide.loadPackage names
    pip: list[str] = field(default_factory=list)  # micropip.install requirements (PyPI)
    notes: list[str] = field(default_factory=list)  # visible: skipped by marker, where from

    @property
    def empty(self) -> bool:
        return not (self.wheels or self.load or self.pip)

    def to_init(self) -> dict[str, list[str]]:
        return {
            "wheels": [str(p) for p in self.wheels],
            "load": list(self.load),
            "pip": list(self.pip),
        }


@dataclass(frozen=True)
class _Wheel:
    path: Path
    name: NormalizedName
    version: Version


def plan_packages(
    requirements: list[str],
    pyodide_dir: Path,
    wheelhouse: Path | None = None,
    allow_downloads: bool = False,
) -> PackagePlan:
    """Resolve ``requirements`` to wheels to extract, packages to load and pip installs."""
    plan = PackagePlan()
    if not requirements:
        return plan
    lock = _read_lock(pyodide_dir)
    env = _marker_env(lock)
    wheels = _wheelhouse(wheelhouse, supported_tags(lock))
    queue: deque[tuple[str, Requirement, str | None]] = deque()
    for text in requirements:
        try:
            queue.append((text, parse_requirement(text), None))
        except ValueError as exc:
            raise MissingPackageError(str(exc)) from None
    done: set[NormalizedName] = set()
    missing: list[str] = []
    while queue:
        text, req, parent = queue.popleft()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            if parent is None:
                plan.notes.append(f"package {text!r} skipped: its marker excludes Pyodide")
            continue
        if name in done:
            continue
        done.add(name)
        wheel = _best_wheel(wheels.get(name, []), req)
        if wheel is not None:
            plan.wheels.append(wheel.path)
            plan.notes.append(f"package {name} {wheel.version} from the wheelhouse")
            for dep in _wheel_dependencies(wheel.path, req.extras, env):
                queue.append((str(dep), dep, str(name)))
            continue
        in_dist = lock["packages"].get(name) or lock["packages"].get(req.name)
        if in_dist is not None and req.specifier.contains(in_dist["version"], prereleases=True):
            local = (pyodide_dir / str(in_dist["file_name"])).is_file()
            if local or allow_downloads:
                plan.load.append(str(in_dist["name"]))
                where = "the local Pyodide distribution" if local else "Pyodide's CDN"
                plan.notes.append(f"package {name} {in_dist['version']} from {where}")
                continue
        if allow_downloads:
            plan.pip.append(str(req))
            plan.notes.append(f"package {req} from PyPI (micropip)")
            continue
        missing.append(str(req) if parent is None else f"{req} (needed by {parent})")
    if missing:
        raise MissingPackageError(_missing_message(missing, wheelhouse, lock))
    return plan


def _missing_message(missing: list[str], wheelhouse: Path | None, lock: dict[str, Any]) -> str:
    """Every missing package at once, and how to get each kind where this is read.

    A package of Pyodide's own distribution (numpy, pandas: compiled for WebAssembly, so no
    ``pip download`` can fetch it) comes from that distribution: its CDN (RUNT_PYODIDE_CDN=1)
    or the full build. Anything else needs a pure-Python wheel in the wheelhouse; inside the
    action's image (no pip there) a workflow step before the action downloads it."""
    from runt_action.packages import in_image

    python = str(lock["info"].get("python", "3"))
    short = ".".join(python.split(".")[:2])
    names = ", ".join(repr(m) for m in missing)
    where = f"the wheelhouse {wheelhouse}" if wheelhouse is not None else "no wheelhouse given"
    in_dist: list[str] = []
    others: list[str] = []
    for item in missing:
        text = item.split(" (needed by")[0]
        try:
            name = canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            name = canonicalize_name(text)
        (in_dist if name in lock["packages"] else others).append(text)
    image = in_image()
    advice: list[str] = []
    if in_dist:
        shown = ", ".join(in_dist)
        full = (
            "" if image else " or install them with scripts/setup-pyodide.sh (PYODIDE_PACKAGES=...)"
        )
        env = "`env: RUNT_PYODIDE_CDN: 1` on the step" if image else "RUNT_PYODIDE_CDN=1"
        advice.append(
            f"{shown} {'is' if len(in_dist) == 1 else 'are'} built for Pyodide and not "
            f"bundled {'in the action' + chr(39) + 's image' if image else 'here'}: set "
            f"{env} to load {'it' if len(in_dist) == 1 else 'them'} from Pyodide's CDN{full}"
        )
    if others:
        from runt_action.workspace import workspace_relative

        house = workspace_relative(wheelhouse) if image and wheelhouse is not None else wheelhouse
        target = shlex.quote(str(house)) if house is not None else "wheels"
        wanted = " ".join(shlex.quote(m) for m in others)
        download = (
            f"`pip download --platform {wasm_platform(lock)} --python-version {short} "
            f"--only-binary=:all: -d {target} {wanted}`"
        )
        step = (
            f"add a workflow step before the action that runs {download} and give the action "
            f"`wheelhouse: {target}`"
            if image
            else f"run {download} and pass --wheelhouse {target}"
        )
        advice.append(
            f"for {', '.join(others)} (pure-Python wheels, or compiled ones built for "
            f"{wasm_platform(lock)}) {step}, or allow downloads from PyPI with RUNT_PYODIDE_CDN=1"
        )
    return (
        f"package(s) {names} not available to Pyodide ({where}; downloads are off): "
        f"{'; '.join(advice)}"
    )


def _read_lock(pyodide_dir: Path) -> dict[str, Any]:
    """pyodide-lock.json as {"info": {...}, "packages": {name: {...}}}, empty when unreadable."""
    try:
        lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        lock = {}
    lock = lock if isinstance(lock, dict) else {}
    info, packages = lock.get("info"), lock.get("packages")
    return {
        "info": info if isinstance(info, dict) else {},
        "packages": packages if isinstance(packages, dict) else {},
    }


def _marker_env(lock: dict[str, Any]) -> dict[str, str]:
    """PEP 508 marker values of the Pyodide interpreter (not of this process)."""
    python = str(lock["info"].get("python", "3.12.0"))
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": "wasm32",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Emscripten",
        "platform_version": "",
        "python_full_version": python,
        "python_version": ".".join(python.split(".")[:2]),
        "sys_platform": "emscripten",
    }


def wasm_platform(lock: dict[str, Any]) -> str:
    """The wheel platform tag of this Pyodide build, e.g. ``pyemscripten_2026_0_wasm32``."""
    info = lock["info"]
    return f"pyemscripten_{info.get('abi_version', '2026_0')}_{info.get('arch', 'wasm32')}"


def supported_tags(lock: dict[str, Any]) -> frozenset[Tag]:
    """Wheel tags this Pyodide runs: its CPython (cp3XY, abi3) for its wasm platform, and
    pure ones (``none-any``), as pip computes them for that interpreter."""
    python = str(lock["info"].get("python", "3.14.0")).split(".")
    version = (int(python[0]), int(python[1]))
    interpreter = f"cp{version[0]}{version[1]}"
    platforms = [wasm_platform(lock)]
    return frozenset(
        [
            *cpython_tags(version, abis=[interpreter, "abi3", "none"], platforms=platforms),
            *compatible_tags(version, interpreter, platforms),
        ]
    )


def _wheelhouse(
    directory: Path | None, supported: frozenset[Tag]
) -> dict[NormalizedName, list[_Wheel]]:
    """Wheels in ``directory`` this Pyodide can run (``supported`` tags), by project name."""
    found: dict[NormalizedName, list[_Wheel]] = {}
    if directory is None:
        return found
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise MissingPackageError(f"wheelhouse {directory} cannot be read: {exc}") from None
    for entry in entries:
        if not entry.name.endswith(".whl") or not entry.is_file():
            continue
        try:
            name, version, _build, tags = parse_wheel_filename(entry.name)
        except InvalidWheelFilename:
            continue
        if not tags.isdisjoint(supported):
            found.setdefault(name, []).append(_Wheel(Path(entry.path).resolve(), name, version))
    return found


def _best_wheel(candidates: list[_Wheel], req: Requirement) -> _Wheel | None:
    matching = [w for w in candidates if req.specifier.contains(w.version, prereleases=True)]
    return max(matching, key=lambda w: w.version, default=None)


def _wheel_dependencies(path: Path, extras: set[str], env: dict[str, str]) -> list[Requirement]:
    """The wheel's Requires-Dist that apply on Pyodide (with the requested extras)."""
    try:
        with zipfile.ZipFile(path) as archive:
            meta_name = next(
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            )
            text = archive.read(meta_name).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise MissingPackageError(f"wheel {path} is unreadable: {exc}") from None
    metadata = email.parser.Parser().parsestr(text, headersonly=True)
    deps: list[Requirement] = []
    for line in metadata.get_all("Requires-Dist") or []:
        try:
            dep = Requirement(line)
        except InvalidRequirement:
            continue
        if dep.marker is not None:
            applies = any(dep.marker.evaluate({**env, "extra": extra}) for extra in [*extras, ""])
            if not applies:
                continue
            dep.marker = None
        deps.append(dep)
    return deps
