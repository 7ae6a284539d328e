"""Paths as GitHub Actions sees them: relative to the workspace.

A container action runs with the workspace mounted at ``/github/workspace`` (``GITHUB_WORKSPACE``
inside), while the runner's host has it at e.g. ``/home/runner/work/repo/repo`` (what
``${{ github.workspace }}`` expands to; ``RUNNER_WORKSPACE`` is ``/home/runner/work/repo``).
So an absolute path means nothing to the user or to GitHub: annotations are attached to a file
only by its path relative to the repository, and ``actions/upload-artifact`` (a step on the
host) takes paths relative to the workspace. This module turns paths into that form, and maps a
host path given as the notebook (``${{ github.workspace }}/nb.yml``) to the file in the mount.

Imports nothing of ours: settings and report both use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

__all__ = ["HostPathError", "in_workspace", "map_host_path", "workspace", "workspace_relative"]

HINT = "use a path relative to the workspace"


class HostPathError(ValueError):
    """A path of the runner's host that does not exist in this container (one line)."""


def workspace(environ: Mapping[str, str] | None = None) -> Path | None:
    """``GITHUB_WORKSPACE`` as an absolute path, or None when unset."""
    env = os.environ if environ is None else environ
    value = env.get("GITHUB_WORKSPACE", "").strip()
    return Path(os.path.abspath(value)) if value else None


def in_workspace(path: str | os.PathLike[str], root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX separators, no ``./``), None when outside it."""
    absolute = os.path.abspath(os.fspath(path))
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive (Windows)
        return None
    if rel == os.curdir:
        return "."
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    return PurePosixPath(*Path(rel).parts).as_posix()


def workspace_relative(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> str:
    """The path as GitHub and ``upload-artifact`` take it: relative to ``GITHUB_WORKSPACE``
    (``./x`` and ``/github/workspace/x`` both give ``x``); a path outside the workspace, or
    returned absolute; with no workspace set, a path is returned as given (``./`` dropped)."""
    text = os.fspath(path)
    root = workspace(environ)
    if root is None:
        return text if os.path.isabs(text) or not text else os.path.normpath(text)
    rel = in_workspace(text, root)
    return rel if rel is not None else os.path.abspath(text)


def _host_workspaces(environ: Mapping[str, str]) -> list[PurePosixPath]:
    """Where the host may keep the workspace: ``RUNNER_WORKSPACE/<repo name>`` (the runner's
    layout) and ``RUNNER_WORKSPACE`` itself; none when it is unset."""
    runner = environ.get("RUNNER_WORKSPACE", "").strip()
    if not runner or not runner.startswith("/"):
        return []
    base = PurePosixPath(runner)
    found = []
    repo = environ.get("GITHUB_REPOSITORY", "").rsplit("/", 1)[-1].strip()
    if repo:
        found.append(base / repo)
    found.append(base / base.name)  # runs of repo/repo: the checkout dir is named the same
    found.append(base)
    return found


def map_host_path(path: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``path`` as this process can open it: a host path of the workspace mapped into it.

    Only an absolute path that does not exist here, while ``GITHUB_WORKSPACE`` is set and the
    path is not inside it, is looked at (everything else is returned as given):

    - it starts with the host's workspace (from ``RUNNER_WORKSPACE``): the rest, inside the
      workspace, if that exists;
    - else the longest tail of it that exists inside the workspace (``/home/runner/work/r/r/
      notebooks/x.yml`` -> ``notebooks/x.yml``), when that tail has a directory in it or the
      path lies under ``RUNNER_WORKSPACE``;
    - else :class:`HostPathError`: ``PATH: no such file in the action's container (the
      workspace is mounted at /github/workspace); use a path relative to the workspace``.
    """
    env = os.environ if environ is None else environ
    root = workspace(env)
    if root is None or not path.is_absolute() or path.exists():
        return path
    if in_workspace(path, root) is not None:
        return path  # inside the workspace already: "no such file" is the right message
    posix = PurePosixPath(path.as_posix())
    for host in _host_workspaces(env):
        try:
            rest = posix.relative_to(host)
        except ValueError:
            continue
        if rest.parts and (root / rest).exists():
            return Path(os.path.relpath(root / rest)) if _cwd_is(root) else root / rest
    runner = _host_workspaces(env)
    under_runner = any(_under(posix, h) for h in runner)
    parts = posix.parts[1:]
    for i in range(1, len(parts)):
        tail = PurePosixPath(*parts[i:])
        if (root / tail).is_file() and (len(tail.parts) > 1 or under_runner):
            return Path(os.path.relpath(root / tail)) if _cwd_is(root) else root / tail
    raise HostPathError(
        f"{path}: no such file in the action's container (the workspace is mounted at "
        f"{root}, not at the runner's path); {HINT}, e.g. "
        f"{_example(posix, root)}"
    )


def _under(path: PurePosixPath, base: PurePosixPath) -> bool:
    try:
        path.relative_to(base)
    except ValueError:
        return False
    return True


def _cwd_is(root: Path) -> bool:
    try:
        return Path.cwd().resolve() == root.resolve()
    except OSError:
        return False


def _example(path: PurePosixPath, root: Path) -> str:
    """What the relative path probably is: the part after the repository's directory."""
    del root
    name = path.name or "notebook.yml"
    parts = path.parts
    for i in range(len(parts) - 1, 1, -1):  # .../<repo>/<repo>/rest: the runner's layout
        if parts[i] == parts[i - 1] and i + 1 < len(parts):
            return PurePosixPath(*parts[i + 1 :]).as_posix()
    return name
