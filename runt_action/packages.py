"""Notebook package requirements: parsing the list, and checking it against a Python install.

A notebook names what it needs in ``metadata.packages`` and a run may add more with the
``packages`` input (``--packages``). They are PEP 508 requirement strings, parsed by
``packaging`` (the reference implementation pip uses), so "pandas>=2,<3" or
"requests[socks]; python_version >= '3.11'" mean here what they mean to pip.

The native runtime is the user's own interpreter: :func:`check_installed` only checks, and a
missing package is one :class:`MissingPackageError` naming each one and the exact
``pip install`` that gets it. The Pyodide runtime installs them (agents/pyodide/packages.py).
"""

from __future__ import annotations

import importlib.metadata
import shlex
import sys
from collections.abc import Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runt_action.errors import MissingPackageError

__all__ = [
    "check_installed",
    "merge_requirements",
    "parse_requirement",
    "split_requirements",
]


def split_requirements(text: str) -> list[str]:
    """An action input's list: one requirement per line, or several separated by commas.

    A comma splits only outside brackets and only before a new name, so version ranges
    ("pandas>=2,<3") and extras ("requests[socks,security]") stay whole.
    """
    items: list[str] = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        current, depth = "", 0
        for index, char in enumerate(line):
            depth += {"[": 1, "]": -1, "(": 1, ")": -1}.get(char, 0)
            rest = line[index + 1 :].lstrip()
            if char == "," and depth == 0 and rest[:1].isalnum():
                items.append(current)
                current = ""
            else:
                current += char
        items.append(current)
    return [item.strip() for item in items if item.strip()]


def parse_requirement(text: str) -> Requirement:
    """A PEP 508 requirement, or ValueError with a one-line reason (URLs are refused)."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(f"invalid package requirement {text!r}: {reason}") from None
    if requirement.url:
        raise ValueError(
            f"package requirement {text!r} is a URL: give a name and version instead "
            "(and put the wheel in the wheelhouse)"
        )
    return requirement


def merge_requirements(*lists: Iterable[str]) -> list[str]:
    """The notebook's packages, then the run's; the same text twice is kept once."""
    seen: dict[str, None] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item.strip(), None)
    return [item for item in seen if item]


def pip_command(requirements: Sequence[str], python: str = sys.executable) -> str:
    """The exact command that installs ``requirements`` into ``python``."""
    quoted = " ".join(shlex.quote(r) for r in requirements)
    return f"{shlex.quote(python)} -m pip install {quoted}"


def check_installed(requirements: Sequence[str], python: str = sys.executable) -> list[str]:
    """Check every requirement is installed (name, version, extras) in this interpreter.

    The native kernel runs ``sys.executable``, so this process's ``importlib.metadata`` sees
    exactly what the kernel can import. Returns visible notes (requirements whose marker
    excludes this interpreter); raises one MissingPackageError for everything missing.
    Never installs anything.
    """
    notes: list[str] = []
    missing: list[str] = []
    problems: list[str] = []
    for text in requirements:
        try:
            requirement = parse_requirement(text)
        except ValueError as exc:
            raise MissingPackageError(str(exc)) from None
        if requirement.marker is not None and not requirement.marker.evaluate():
            notes.append(f"package {text!r} skipped: its marker excludes this Python")
            continue
        problem = _installed_problem(requirement)
        if problem is not None:
            missing.append(text)
            problems.append(problem)
    if missing:
        raise MissingPackageError(
            f"{'; '.join(problems)}. The runtime never installs packages into your Python: "
            f"run `{pip_command(missing, python)}`"
        )
    return notes


def _installed_problem(requirement: Requirement) -> str | None:
    name = requirement.name
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return f"package {str(requirement)!r} is not installed"
    try:
        version = Version(installed)
    except InvalidVersion:
        return f"package {name!r} has an unreadable version {installed!r}"
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        return f"package {name!r} is {installed}, the notebook needs {requirement.specifier}"
    for extra in sorted(requirement.extras):
        for dependency in _extra_dependencies(name, extra):
            inner = _installed_problem(dependency)
            if inner is not None:
                return f"{inner} (needed by {name}[{extra}])"
    return None


def _extra_dependencies(name: str, extra: str) -> list[Requirement]:
    found: list[Requirement] = []
    for text in importlib.metadata.requires(name) or []:
        try:
            dependency = Requirement(text)
        except InvalidRequirement:
            continue
        marker = dependency.marker
        # Only the dependencies this extra adds (not the unconditional ones).
        if (
            marker is not None
            and marker.evaluate({"extra": canonicalize_name(extra)})
            and not marker.evaluate({"extra": ""})
        ):
            dependency.marker = None
            found.append(dependency)
    return found
