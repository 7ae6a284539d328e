"""The event loop choice: uvloop by default, asyncio's on request or without uvloop, and a
run on asyncio's loop says so in its first line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from runt_action import eventloop

REPO = Path(__file__).resolve().parents[1]


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.run(_loop_type()) is uvloop.Loop
    assert eventloop.note() is None


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)
    assert eventloop.note() == "on asyncio's event loop (RUNT_EVENT_LOOP=asyncio)"


def test_without_uvloop_it_falls_back_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert eventloop.loop_factory() is None
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)
    note = eventloop.note()
    assert note is not None and "uvloop is not installed" in note


def test_a_run_on_asyncios_loop_says_so_in_its_first_line(tmp_path: Path) -> None:
    nb = tmp_path / "nb.yml"
    nb.write_text("metadata: {title: t}\ncells:\n  - {id: a, source: x = 1}\n", encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_")) and k not in ("CI", "LIVESTORE_SYNC_URL")
    }
    env["RUNT_EVENT_LOOP"] = "asyncio"
    proc = subprocess.run(
        [sys.executable, "-m", "runt_action", str(nb), "--runtime", "python", "--no-html"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("runt-automate: running ") and first.endswith(
        "on asyncio's event loop (RUNT_EVENT_LOOP=asyncio)"
    )
