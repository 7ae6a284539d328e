from __future__ import annotations

import os
from pathlib import Path

import pytest

from runt_action.report.ownership import hand_back

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def test_files_written_into_the_workspace_go_back_to_its_owner(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    os.chown(workspace, 1001, 1002)
    nested = workspace / "runt-output" / "run"
    nested.mkdir(parents=True)
    ipynb = nested / "example.ipynb"
    ipynb.write_text("{}")
    outside = tmp_path / "summary.md"
    outside.write_text("# summary")

    changed = hand_back([ipynb, outside, None], workspace)

    for path in (workspace / "runt-output", nested, ipynb):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (1001, 1002), path
        assert path in changed
    assert outside.stat().st_uid == 0  # not ours to give away
    assert workspace.stat().st_uid == 1001


def test_a_directory_is_handed_back_recursively(tmp_path: Path) -> None:
    os.chown(tmp_path, 1001, 1001)
    out = tmp_path / "outputs"
    (out / "deep").mkdir(parents=True)
    (out / "deep" / "file.csv").write_text("a,b\n")
    hand_back([out], tmp_path)
    assert (out / "deep" / "file.csv").stat().st_uid == 1001


def test_nothing_happens_without_a_workspace(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_text("x")
    assert hand_back([f], None) == []
    assert f.stat().st_uid == 0
