"""Save as you go: a job killed mid-run leaves the notebook up to its last finished cell."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import NOTEBOOKS, _env


async def _until_written(
    path: Path, needle: str, limit: float, read: Callable[[Path], str] | None = None
) -> None:
    """Wait, on inotify, until ``path`` (replaced atomically) contains ``needle``."""
    from watchfiles import awatch

    read = read or _outputs_text
    async with asyncio.timeout(limit):
        if needle in read(path):
            return
        # yield_on_timeout: a write that landed before the watch began is seen on the next
        # timeout, so no race can hang the test.
        async for _ in awatch(
            path.parent, debounce=50, step=10, rust_timeout=500, yield_on_timeout=True
        ):
            if needle in read(path):
                return


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _outputs_text(path: Path) -> str:
    try:
        nb = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return ""
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


async def test_a_killed_run_leaves_the_partial_notebook(tmp_path: Path, runtime: str) -> None:
    ipynb = tmp_path / "partial.ipynb"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        str(NOTEBOOKS / "killed.yml"),
        "--runtime",
        runtime,
        "--output",
        str(ipynb),
        cwd=tmp_path,
        env=_env(tmp_path, None),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # The checkpoint after b lands at most 2 s after the one after a.
        await _until_written(ipynb, "B-DONE", limit=120)
        # The same checkpoint writes the HTML report right after the .ipynb.
        await _until_written(ipynb.with_suffix(".html"), "B-DONE", limit=60, read=_text)
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup, no final publish
        await proc.wait()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    nb = json.loads(ipynb.read_text())
    texts = ["".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])]
    assert any("A-DONE" in t for t in texts) and any("B-DONE" in t for t in texts)
    assert nb["metadata"]["runt"]["status"] == "running"
    assert "B-DONE" in (tmp_path / "partial.html").read_text()  # saved as it goes too
