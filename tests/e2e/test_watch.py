"""`runt-automate watch`: a save re-runs the changed cells and their dependents only, on a
runtime that kept the state of the others; Ctrl-C ends it cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from tests.e2e.conftest import NOTEBOOKS, _env


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        raw = await stream.readline()
        assert raw, "watch ended early:\n" + "".join(seen)
        line = raw.decode(errors="replace")
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found


def _replace(path: Path, text: str) -> None:
    """As an editor saves: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_a_save_reruns_changed_cells_and_dependents(tmp_path: Path, runtime: str) -> None:
    nb = tmp_path / "watched.yml"
    nb.write_text((NOTEBOOKS / "watched.yml").read_text())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        "watch",
        str(nb),
        "--runtime",
        runtime,
        "--output",
        str(tmp_path / "watched.ipynb"),
        cwd=tmp_path,
        env=_env(tmp_path, {"GITHUB_ACTIONS": "", "CI": ""}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen: list[str] = []
    out: list[str] = []

    async def drain() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            out.append(raw.decode(errors="replace"))

    drainer = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(180):
            first = await _line(proc.stderr, r"re-ran (\d+) cell\(s\): (.*) in", seen)
            assert first.group(2) == "seed, base, uses_x, alone"
            await _line(proc.stderr, r"watching ", seen)
            _replace(nb, nb.read_text().replace("x = 1", "x = 2"))
            second = await _line(proc.stderr, r"re-ran (\d+) cell\(s\): (.*) in", seen)
            assert second.group(2) == "base, uses_x"  # not seed (its token lives on), not alone
            # A cell added after `alone` that reads `token`: only it runs.
            _replace(nb, nb.read_text() + "  - id: added\n    source: print('added', token)\n")
            third = await _line(proc.stderr, r"re-ran (\d+) cell\(s\): (.*) in", seen)
            assert third.group(2) == "added"
            os.killpg(proc.pid, signal.SIGINT)
            await _line(proc.stderr, r"watch ended", seen)
            assert await proc.wait() == 0
        await drainer
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    text = "".join(out)
    tokens = re.findall(r"(?:token|added) ([0-9a-f]{8})", text)
    # seed ran once; uses_x and added printed the same token: the kernel state was kept.
    assert len(set(tokens)) == 1 and len(tokens) == 4, text
    assert "x is 2" in text and text.count("alone\n") == 1
