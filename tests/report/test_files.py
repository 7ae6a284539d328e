from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from runt_action.report.files import write_file


def test_new_and_regular_files_are_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.md"
    write_file(path, "one")
    assert path.read_text() == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    before = path.stat().st_ino
    write_file(path, "two")
    assert path.read_text() == "two"
    assert path.stat().st_ino != before  # a new inode: renamed over, never half-written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the file's mode is kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.md"]  # no temp left


def test_symlink_is_followed_and_its_target_written(tmp_path: Path) -> None:
    target = tmp_path / "real.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_file(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "created.md")
    write_file(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "created.md").read_text() == "made"


def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "report.ipynb"
    path.mkdir()
    with pytest.raises(IsADirectoryError, match=r"a directory, not replaced: '.*report\.ipynb'"):
        write_file(path, "x")
    assert path.is_dir() and list(path.iterdir()) == []


def test_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    thread = threading.Thread(target=reader)
    thread.start()
    payload = "line\n" * 50_000  # larger than a pipe buffer: written in several rounds
    write_file(fifo, payload)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert received == [payload.encode()]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not replaced


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_device_node_is_written_through_not_replaced(tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the /dev/null device
    write_file(device, "summary text")
    st = device.lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
    link = tmp_path / "to-null"
    link.symlink_to(device)
    write_file(link, "again")
    assert stat.S_ISCHR(device.lstat().st_mode) and link.is_symlink()


def test_streamed_text_is_written_whole_and_atomically(tmp_path: Path) -> None:
    from runt_action.report.files import write_file

    target = tmp_path / "big.txt"
    pieces = (f"{i:06d}é\n" for i in range(50_000))  # more than one batch, non-ASCII
    write_file(target, pieces)
    text = target.read_text(encoding="utf-8")
    assert text.splitlines() == [f"{i:06d}é" for i in range(50_000)]
    assert [p.name for p in tmp_path.iterdir()] == ["big.txt"]  # no temporary file left
