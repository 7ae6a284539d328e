"""Give what a run leaves behind back to the owner of the place it lands in.

GitHub runs container actions as root (``--workdir /github/workspace``, the checkout owned by
the runner user, ``HOME=/github/home``); files a root container leaves there break the next
step's ``git clean``, ``rm -rf`` or cache upload, which run as that user. Two tools:

- :func:`hand_back`: our own outputs (the .ipynb, HTML, summary, ``--output-dir``) inside the
  workspace, recursively, to the workspace's owner. Used after publishing and after each
  checkpoint.
- :class:`Footprint`: everything else the run created, including what user code, Pyodide's
  write-backs, the sync log and the runtimes' caches wrote. Begun when the run starts, settled
  when it ends (whatever the ending: success, failure, a signal, bad input).

The rule :meth:`Footprint.settle` applies (a single walk at the end, no snapshot needed):

- Only when our effective uid is 0, and only for a place owned by someone else: a root-owned
  workspace, or a run that is not root, changes nothing.
- An entry is the run's when it is owned by root and its status changed (``st_ctime``, which no
  program can set back, unlike the mtime) after the process started, less a 2 s margin. An
  entry that appears in a directory changes that directory's ctime, so a directory whose
  ctime is older holds no new entry: its entries are not even stat'ed (the tree is still
  descended, one ``open`` + ``getdents`` per directory). A root-owned file that existed before
  the run and was rewritten in place stays root-owned: it was root's already.
- Under the workspace (``GITHUB_WORKSPACE``, else the directory the run starts in) such entries
  go to the workspace's owner; under ``HOME`` to HOME's owner. Elsewhere (``--mount``,
  ``--cwd``, ``--output-dir``, ``--output``, ``--sync-log`` ... outside both) they go to the
  owner of the directory they land in, the nearest one that existed before the run; when that
  is root's, nothing changes (``--output /tmp/x.ipynb`` stays root's).
- Never through a symlink: the walk opens each directory relative to its parent with
  ``O_NOFOLLOW`` and checks it is the inode the parent listed; chown never follows a link. It
  stays on the root's file system (as ``find -xdev``).
- Bounded: at most :data:`MAX_DIRECTORIES` directories and :data:`MAX_SECONDS` seconds in all;
  beyond that the walk stops and says so (``Settled.truncated``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["MAX_DIRECTORIES", "MAX_SECONDS", "Footprint", "Settled", "hand_back"]

MAX_DIRECTORIES = 200_000  # directories walked by one settle(), across all its roots
MAX_SECONDS = 20.0  # and the time it may take
MARGIN = 2.0  # seconds before the process start still counted as the run's (clock steps)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def hand_back(paths: Iterable[Path | None], workspace: Path | None) -> list[Path]:
    """Chown each path (recursively for directories) inside ``workspace`` to its owner.

    Returns the paths changed. Paths outside the workspace are left alone: the summary and
    output files belong to the runner, not to us.
    """
    if workspace is None or not _root():
        return []
    try:
        owner = workspace.stat()
        root = workspace.resolve()
    except OSError:
        return []
    if owner.st_uid == os.geteuid():
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


def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


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


def process_start() -> float:
    """When this process started (wall clock), from /proc; now when that cannot be read."""
    now = time.time()
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        with open("/proc/stat", encoding="ascii") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
        started = btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return now
    return min(started, now)


@dataclass(slots=True)
class Settled:
    """What one :meth:`Footprint.settle` did."""

    changed: list[Path] = field(default_factory=list)
    directories: int = 0
    truncated: Path | None = None  # the root whose walk the bound stopped


@dataclass(slots=True)
class _Place:
    """A path the run may write outside the workspace and HOME, and where it lands."""

    path: Path  # absolute, symlinks of the existing part resolved
    landing: Path  # its nearest directory above that existed when the run began
    landing_id: tuple[int, int]  # (st_dev, st_ino) of ``landing`` then


class Footprint:
    """The run's footprint on the file system, handed back when it ends (module docstring).

    ``Footprint.begin(...)`` at the start, ``add(...)`` for the paths the plan names,
    ``settle()`` at the end (again after a later write: it is idempotent). Inactive (every
    method a no-op) unless the effective uid is 0.
    """

    def __init__(
        self,
        workspace: Path | None,
        home: Path | None,
        *,
        since: float | None = None,
        max_directories: int = MAX_DIRECTORIES,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.active = _root()
        self.euid = os.geteuid() if hasattr(os, "geteuid") else -1
        self.since = (process_start() if since is None else since) - MARGIN
        self.max_directories = max_directories
        self.max_seconds = max_seconds
        # (root, its owner): the workspace, then HOME; a root owned by us is left out.
        self.roots: list[tuple[Path, tuple[int, int], tuple[int, int]]] = []
        self.places: list[_Place] = []
        if not self.active:
            return
        for root in (workspace, home):
            if root is None:
                continue
            try:
                real = Path(os.path.realpath(root))
                st = os.stat(real)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) or real == Path("/") or st.st_uid == self.euid:
                continue
            if any(r == real for r, _, _ in self.roots):
                continue
            self.roots.append((real, (st.st_uid, st.st_gid), (st.st_dev, st.st_ino)))

    @classmethod
    def begin(cls, workspace: Path | None, home: Path | None = None) -> Footprint:
        """The footprint of the run starting now; ``home`` defaults to ``$HOME``."""
        if home is None:
            env_home = os.environ.get("HOME")
            home = Path(env_home) if env_home else None
        return cls(workspace if workspace is not None else Path.cwd(), home)

    def add(self, paths: Iterable[Path | str | None]) -> None:
        """Paths the run will write (files or directories); call before they are written.
        Those inside the workspace or HOME are covered already; the others are settled by
        the owner of the nearest directory that exists now."""
        if not self.active:
            return
        for given in paths:
            if given is None or str(given) == "":
                continue
            path = Path(os.path.realpath(Path(given).expanduser()))
            if self._root_of(path) is not None or any(p.path == path for p in self.places):
                continue
            # The nearest directory above it that exists now (the path itself may be
            # replaced by the run: an atomic write makes a new file).
            landing, st = path.parent, None
            while st is None:
                with contextlib.suppress(OSError):
                    st = os.lstat(landing)
                if st is None and landing.parent == landing:
                    break
                if st is None:
                    landing = landing.parent
            if st is None or not stat.S_ISDIR(st.st_mode) or path == landing:
                continue
            self.places.append(_Place(path, landing, (st.st_dev, st.st_ino)))

    def settle(self) -> Settled:
        """Hand back every entry the run created (module docstring: the rule); never raises."""
        done = Settled()
        if not self.active:
            return done
        deadline = time.monotonic() + self.max_seconds
        skip = {ident for _, _, ident in self.roots}
        with _signals_deferred():
            for root, owner, ident in self.roots:
                if done.truncated is None:
                    self._sweep(root, ident, owner, skip - {ident}, deadline, done)
            for place in self.places:
                if done.truncated is None:
                    self._settle_place(place, skip, deadline, done)
        return done

    # -- internals ------------------------------------------------------------------------

    def _root_of(self, path: Path) -> Path | None:
        for root, _, _ in self.roots:
            if path.is_relative_to(root):
                return root
        return None

    def _settle_place(
        self, place: _Place, skip: set[tuple[int, int]], deadline: float, done: Settled
    ) -> None:
        """The entries between the landing directory and the path, then (a directory) what
        is under it, each to the owner of the directory it is in."""
        try:
            landing = os.lstat(place.landing)
        except OSError:
            return
        if (landing.st_dev, landing.st_ino) != place.landing_id:
            return  # replaced meanwhile: not the directory we knew
        current = place.landing
        parent_owner = (landing.st_uid, landing.st_gid)
        st = landing
        for part in place.path.relative_to(place.landing).parts:
            current = current / part
            try:
                st = os.lstat(current)
            except OSError:
                return
            # In a directory of root's, it stays root's (``--output /tmp/x.ipynb``).
            mine = parent_owner[0] != self.euid and self._ours(st)
            if mine and (st.st_uid, st.st_gid) != parent_owner:
                with contextlib.suppress(OSError):
                    os.chown(current, *parent_owner, follow_symlinks=False)
                    done.changed.append(current)
                    st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                return
            parent_owner = (st.st_uid, st.st_gid)
        if stat.S_ISDIR(st.st_mode):
            self._sweep(place.path, (st.st_dev, st.st_ino), None, skip, deadline, done)

    def _ours(self, st: os.stat_result) -> bool:
        return st.st_uid == self.euid and st.st_ctime >= self.since

    def _sweep(
        self,
        root: Path,
        ident: tuple[int, int],
        owner: tuple[int, int] | None,
        skip: set[tuple[int, int]],
        deadline: float,
        done: Settled,
    ) -> None:
        """Walk ``root`` (never through a symlink): each entry of the run goes to ``owner``,
        or (None) to the owner of the directory it is in."""
        # Depth-first, one directory open at a time: each is opened by its path (the last
        # component with O_NOFOLLOW) and must be the (device, inode) its parent listed, so a
        # directory swapped for a symlink meanwhile is never entered.
        stack: list[tuple[Path, tuple[int, int]]] = [(root, ident)]
        dev = ident[0]
        while stack:
            path, expected = stack.pop()
            if done.directories >= self.max_directories or time.monotonic() > deadline:
                done.truncated = root
                return
            try:
                fd = os.open(path, _DIR_FLAGS)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != expected:
                    continue
                done.directories += 1
                children = list(self._scan(path, fd, dev, owner, skip, done))
            except OSError:
                continue
            finally:
                os.close(fd)
            stack.extend((path / name, child) for name, child in reversed(children))

    def _scan(
        self,
        path: Path,
        fd: int,
        dev: int,
        owner: tuple[int, int] | None,
        skip: set[tuple[int, int]],
        done: Settled,
    ) -> Iterator[tuple[str, tuple[int, int]]]:
        """Hand back the run's entries of one directory; yield its subdirectories (name,
        (device, inode)) to descend into."""
        try:
            here = os.fstat(fd)
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError:
            return
        target = owner if owner is not None else (here.st_uid, here.st_gid)
        fresh = here.st_ctime >= self.since and target[0] != self.euid
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if fresh:
                    st = entry.stat(follow_symlinks=False)
                    if self._ours(st) and (st.st_uid, st.st_gid) != target:
                        os.chown(entry.name, *target, dir_fd=fd, follow_symlinks=False)
                        done.changed.append(path / entry.name)
                if is_dir:
                    st = entry.stat(follow_symlinks=False)
                    if st.st_dev == dev and (st.st_dev, st.st_ino) not in skip:
                        yield entry.name, (st.st_dev, st.st_ino)
            except OSError:
                continue


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM/SIGINT wait until the walk is done (it is bounded), then act as they would
    have. Only from the main thread (signal handlers can be set only there)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, defer)
    try:
        yield
    finally:
        for number, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(number, handler)
        for signum in dict.fromkeys(received):
            os.kill(os.getpid(), signum)
