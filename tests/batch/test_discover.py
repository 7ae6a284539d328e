"""Discovery: recursive, skips hidden/checkpoints/runt-output, --ignore, sorted, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from runt_action.batch.discover import discover
from runt_action.errors import UsageError


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "nbs/b.yml",
        "nbs/a.ipynb",
        "nbs/deep/c.yaml",
        "nbs/deep/notes.md",
        "nbs/.hidden/h.yml",
        "nbs/.ipynb_checkpoints/a-checkpoint.ipynb",
        "nbs/runt-output/a.ipynb",
        "nbs/slow/s.yml",
        "other/z.yml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("cells: []\n")
    return tmp_path


def _names(paths: list[Path]) -> list[str]:
    return [p.as_posix() for p in paths]


def test_directories_are_walked_and_sorted(tree: Path) -> None:
    assert _names(discover(["nbs", "other/z.yml"])) == [
        "nbs/a.ipynb",
        "nbs/b.yml",
        "nbs/deep/c.yaml",
        "nbs/slow/s.yml",
        "other/z.yml",
    ]


def test_globs_and_duplicates(tree: Path) -> None:
    assert _names(discover(["nbs/**/*.yml", "nbs/b.yml"])) == ["nbs/b.yml", "nbs/slow/s.yml"]


def test_ignore_matches_the_path_or_a_parent(tree: Path) -> None:
    found = discover(["nbs"], ignore=["nbs/slow", "*.ipynb"])
    assert _names(found) == ["nbs/b.yml", "nbs/deep/c.yaml"]


def test_nothing_found_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(UsageError, match=r"no notebook .* found in nbs \(after --ignore nbs\)"):
        discover(["nbs"], ignore=["nbs"])
    with pytest.raises(UsageError, match=r"missing\.yml: no such file"):
        discover(["missing.yml"])
