"""Give files we wrote into the workspace back to the workspace's owner.

GitHub runs container actions as root with the checkout mounted at /github/workspace; files a
root container leaves there break the next step's `git clean` or cache upload, which runs as the
runner user. So after a run, everything we created under the workspace is chowned to whoever
owns the workspace directory. Outside a root container this is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["hand_back"]


def hand_back(paths: Iterable[Path | None], workspace: Path | None) -> list[Path]:
    """Chown each path (recursively for directories) inside ``workspace`` to its owner.

    Returns the paths changed. Paths outside the workspace are left alone: the summary and
    output files belong to the runner, not to us.
    """
    if workspace is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    try:
        owner = workspace.stat()
        root = workspace.resolve()
    except OSError:
        return []
    changed: list[Path] = []
    for path in paths:
        if path is None or not path.exists():
            continue
        resolved = path.resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            continue
        # The directories we created between the workspace and the path belong to us too.
        for parent in reversed(resolved.relative_to(root).parents[:-1]):
            _chown(root / parent, owner.st_uid, owner.st_gid, changed)
        for item in _walk(resolved):
            _chown(item, owner.st_uid, owner.st_gid, changed)
    return changed


def _walk(path: Path) -> Iterable[Path]:
    yield path
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                yield Path(dirpath) / name


def _chown(path: Path, uid: int, gid: int, changed: list[Path]) -> None:
    with contextlib.suppress(OSError):
        st = path.lstat()
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.chown(path, uid, gid, follow_symlinks=False)
            changed.append(path)
