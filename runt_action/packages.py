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

import ast
import importlib.metadata
import importlib.util
import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runt_action.errors import MissingPackageError

__all__ = [
    "check_installed",
    "importable",
    "imported_modules",
    "in_image",
    "merge_requirements",
    "missing_modules_hint",
    "native_install_hint",
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


#: Where the action's image keeps its Python (Dockerfile: UV_PROJECT_ENVIRONMENT=/opt/runt).
IMAGE_PREFIX = "/opt/runt"
#: Where a container action sees the workspace.
CONTAINER_WORKSPACE = "/github/workspace"


def has_pip() -> bool:
    """This interpreter can run ``-m pip`` (the action's image strips pip out)."""
    return importlib.util.find_spec("pip") is not None


def in_image(environ: Mapping[str, str] | None = None) -> bool:
    """Running in the action's image: its Python, or no pip in a container action."""
    env = os.environ if environ is None else environ
    if os.path.realpath(sys.prefix) == IMAGE_PREFIX:
        return True
    return env.get("GITHUB_WORKSPACE") == CONTAINER_WORKSPACE and not has_pip()


def native_install_hint(
    requirements: Sequence[str], python: str = sys.executable, *, image: bool | None = None
) -> str:
    """How to get ``requirements`` for the python runtime, where this message is read.

    Inside the action's image (no pip, and a workflow step runs on the host, not here): a step
    before the action installs them into the workspace for this image's Python, and the
    action's ``PYTHONPATH`` points at them; or the pyodide runtime installs them itself.
    Elsewhere: this interpreter's pip (the virtualenv's), else uv."""
    quoted = " ".join(shlex.quote(r) for r in requirements)
    if in_image() if image is None else image:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        target = ".runt-packages"
        return (
            "the action's image does not have them and its Python has no pip: add a step "
            f"before the action, `pip install --target {target} --python-version {version} "
            f"--only-binary=:all: {quoted}`, and give the action "
            f"`env: PYTHONPATH: {CONTAINER_WORKSPACE}/{target}`; or use `runtime: pyodide` "
            "with them in the `packages` input (or the notebook's metadata.packages) and a "
            "`wheelhouse`"
        )
    if has_pip():
        return f"run `{pip_command(requirements, python)}`"
    return (
        f"this Python ({python}) has no pip: run `uv pip install --python "
        f"{shlex.quote(python)} {quoted}` (or install pip with `{shlex.quote(python)} -m "
        "ensurepip`)"
    )


_IMPORT_SKIP = ("__future__",)


def imported_modules(source: str) -> list[str]:
    """The top-level modules a cell imports (``import a.b`` -> ``a``), in order, once each.

    Imports guarded by ``try`` (the cell handles their absence) and relative imports are left
    out; IPython magics and shell lines (``%``, ``!``) are ignored; a cell that does not parse
    imports nothing."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return []
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            for inner in ast.walk(node):
                guarded.add(id(inner))
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.setdefault(node.module.split(".")[0], None)
    return [name for name in found if name not in _IMPORT_SKIP]


def importable(module: str) -> bool:
    """``module`` can be imported by this interpreter (the python runtime's, by default)."""
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules_hint(
    modules: Sequence[str], runtime: str, *, unchecked: Sequence[str] = ()
) -> str:
    """One line naming every module the notebook misses and how to get them where it runs.

    ``modules``: known missing (a cell raised ModuleNotFoundError, or checked here);
    ``unchecked``: imported by cells that did not run, which this process cannot check (the
    Pyodide runtime's packages are not this interpreter's)."""
    names = list(dict.fromkeys([*modules, *unchecked]))
    if not names:
        return ""
    listed = ", ".join(modules)
    more = [m for m in unchecked if m not in modules]
    text = f"missing module{'s' if len(modules) != 1 else ''} {listed}"
    if more:
        text += f" (cells that did not run also import {', '.join(more)})"
    # A module is usually its package's name; the few that are not are the user's to fix.
    if runtime == "pyodide":
        return (
            f"{text}: declare the packages in the notebook's metadata.packages or the "
            "`packages` input; Pyodide then installs them from the `wheelhouse` (pure or "
            "pyemscripten wheels), its own distribution, or with RUNT_PYODIDE_CDN=1 from its "
            "CDN and PyPI"
        )
    return f"{text}: {native_install_hint(names)}"


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
            f"{'; '.join(problems)}. The python runtime never installs packages: "
            f"{native_install_hint(missing, python)}"
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
