"""report.ownership.Footprint: what a root run created goes back to the owner of its place."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runt_action.report import ownership
from runt_action.report.ownership import Footprint

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")

USER, GROUP = 1001, 1001
OTHER = 1002


@pytest.fixture(autouse=True)
def no_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule's 2 s margin off, so 'before the run' can be a moment ago."""
    monkeypatch.setattr(ownership, "MARGIN", 0.0)


def owned(path: Path, uid: int, gid: int | None = None) -> None:
    st = path.lstat()
    assert st.st_uid == uid, f"{path}: uid {st.st_uid}, expected {uid}"
    if gid is not None:
        assert st.st_gid == gid, f"{path}: gid {st.st_gid}, expected {gid}"


def begin(workspace: Path, home: Path | None = None, **kwargs: object) -> Footprint:
    time.sleep(0.05)  # file system timestamps are coarse: 'before' must be before
    footprint = Footprint(workspace, home, since=time.time(), **kwargs)  # type: ignore[arg-type]
    time.sleep(0.05)
    return footprint


def test_what_the_run_created_goes_to_the_workspace_owner(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "kept").mkdir(parents=True)
    old_root_file = ws / "kept" / "old-root.txt"
    old_root_file.write_text("root's before the run")
    os.chown(ws, USER, GROUP)
    os.chown(ws / "kept", USER, GROUP)
    footprint = begin(ws)

    (ws / "results" / "deep").mkdir(parents=True)
    (ws / "results" / "deep" / "out.csv").write_text("a,b\n")
    (ws / "kept" / "new.txt").write_text("new")
    (ws / ".hidden").write_text("x")
    settled = footprint.settle()

    for path in (
        ws / "results",
        ws / "results" / "deep",
        ws / "results" / "deep" / "out.csv",
        ws / "kept" / "new.txt",
        ws / ".hidden",
    ):
        owned(path, USER, GROUP)
        assert path in settled.changed
    owned(old_root_file, 0)  # root's before the run: not ours to give away
    assert settled.truncated is None
    assert footprint.settle().changed == []  # idempotent


def test_home_goes_to_its_own_owner(tmp_path: Path) -> None:
    ws, home = tmp_path / "ws", tmp_path / "ws" / "home"
    home.mkdir(parents=True)
    os.chown(ws, USER, GROUP)
    os.chown(home, OTHER, OTHER)
    footprint = begin(ws, home)
    (home / ".cache" / "deno").mkdir(parents=True)
    (home / ".cache" / "deno" / "dep_cache").write_text("x")
    (ws / "file").write_text("x")
    footprint.settle()
    owned(home / ".cache", OTHER, OTHER)
    owned(home / ".cache" / "deno" / "dep_cache", OTHER, OTHER)
    owned(ws / "file", USER, GROUP)
    owned(home, OTHER)


def test_symlinks_are_never_followed_out_of_the_tree(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    os.chown(ws, USER, GROUP)
    footprint = begin(ws)
    (outside / "target.txt").write_text("root's, outside")
    (outside / "dir").mkdir()
    (ws / "link-to-dir").symlink_to(outside)
    (ws / "link-to-file").symlink_to(outside / "target.txt")
    footprint.settle()
    owned(ws / "link-to-dir", USER)  # the link itself (lchown)
    owned(ws / "link-to-file", USER)
    owned(outside, 0)
    owned(outside / "target.txt", 0)
    owned(outside / "dir", 0)


def test_a_path_outside_goes_to_the_owner_of_the_directory_it_lands_in(tmp_path: Path) -> None:
    ws, mount, rooted = tmp_path / "ws", tmp_path / "mount", tmp_path / "rooted"
    for d in (ws, mount, rooted):
        d.mkdir()
    os.chown(ws, USER, GROUP)
    os.chown(mount, OTHER, OTHER)
    footprint = begin(ws)
    footprint.add([mount, mount / "out" / "new" / "report.ipynb", rooted / "x.ipynb", None])
    (mount / "sub").mkdir()
    (mount / "sub" / "new.txt").write_text("written back")
    (mount / "out" / "new").mkdir(parents=True)
    (mount / "out" / "new" / "report.ipynb").write_text("{}")
    (rooted / "x.ipynb").write_text("{}")
    footprint.settle()
    for path in (mount / "sub", mount / "sub" / "new.txt", mount / "out" / "new" / "report.ipynb"):
        owned(path, OTHER, OTHER)
    owned(mount / "out", OTHER)
    owned(rooted / "x.ipynb", 0)  # lands in a directory of root's: stays root's


def test_the_walk_is_bounded_and_says_where_it_stopped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chown(ws, USER, GROUP)
    footprint = begin(ws, max_directories=3)
    for i in range(10):
        (ws / f"d{i}").mkdir()
    settled = footprint.settle()
    assert settled.truncated == ws.resolve()
    assert settled.directories == 3


def test_nothing_happens_when_the_owner_is_root(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    footprint = begin(ws)
    (ws / "f").write_text("x")
    assert footprint.roots == []
    assert footprint.settle().changed == []
