"""The fault scenarios, shared by the tests (which assert) and bench/faults.py (which counts).

Each function runs the CLI once under one fault and returns what happened, measured the
same way in both places: lines lost and duplicated, cuts survived, detection time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultlib import (
    Run,
    Serve,
    base_env,
    cell_by_id,
    lost_and_duplicated,
    numbered_counts,
    read_ipynb,
    run_cli,
    runtime_pid,
    serving,
    start_serve,
    stream_text,
    write_notebook,
)
from proxy import CutStats, FaultProxy

TOKEN = "tok-faults-7c1d4e2a"
LINE_RE = r"^line (\d{5})$"


def counting_source(start: int, stop: int, pause: float = 0.02) -> str:
    """A cell printing ``line NNNNN`` for each number, a little apart."""
    return (
        "import time\n"
        f"for i in range({start}, {stop}):\n"
        "    print(f'line {i:05d}', flush=True)\n"
        f"    time.sleep({pause})\n"
    )


@dataclass
class Delivery:
    """A run and what reached its .ipynb: numbered lines lost and duplicated."""

    run: Run
    lost: list[int]
    duplicated: list[int]
    nb: Any = None
    cuts: CutStats | None = None
    restarted: bool = False


def _delivery(run: Run, out: Path, cells: list[str], lines: int) -> Delivery:
    if not out.is_file():
        return Delivery(run, list(range(lines)), [])
    nb = read_ipynb(out)
    text = "".join(stream_text(cell_by_id(nb, cid)) for cid in cells)
    lost, dup = lost_and_duplicated(numbered_counts(text, LINE_RE), lines)
    return Delivery(run, lost, dup, nb=nb)


async def through_cutting_proxy(
    tmp: Path,
    runtime: str,
    *,
    lines: int = 300,
    seed: int = 10,
    max_cuts: int = 30,
    cut_for: float = 40,
    limit: float = 100,
) -> Delivery:
    """Two counting cells, run against ``serve`` through the cutting, delaying proxy."""
    half = lines // 2
    notebook = write_notebook(
        tmp,
        "cuts.yml",
        [
            {"id": "first", "source": counting_source(0, half)},
            {"id": "second", "source": counting_source(half, lines)},
        ],
    )
    out = tmp / "cuts.ipynb"
    async with (
        serving(tmp / "server.sqlite", TOKEN) as servers,
        FaultProxy(servers[0].port, seed=seed, max_cuts=max_cuts, cut_for=cut_for) as proxy,
    ):
        run = await run_cli(
            tmp,
            str(notebook),
            "--runtime",
            runtime,
            "--sync-url",
            f"ws://127.0.0.1:{proxy.port}/livestore",
            "--notebook-id",
            f"cuts-{runtime}",
            "--output",
            str(out),
            env=base_env(tmp, extra={"AUTH_TOKEN": TOKEN}),
            limit=limit,
        )
    delivery = _delivery(run, out, ["first", "second"], lines)
    delivery.cuts = proxy.stats
    return delivery


async def across_server_restart(
    tmp: Path, runtime: str, *, lines: int = 200, kill_at: int = 60, limit: float = 100
) -> Delivery:
    """``serve`` SIGKILLed after line ``kill_at`` and restarted on its port with its --db."""
    notebook = write_notebook(
        tmp,
        "restart.yml",
        [
            {"id": "count", "source": counting_source(0, lines)},
            {"id": "after", "source": "print('after the restart')"},
        ],
    )
    db = tmp / "server.sqlite"
    out = tmp / "restart.ipynb"
    restarted: list[Serve] = []
    async with serving(db, TOKEN) as servers:
        pending: list[asyncio.Task[None]] = []

        async def restart() -> None:
            old = servers[0]
            os.killpg(old.proc.pid, signal.SIGKILL)  # no goodbye: every socket just dies
            await old.proc.wait()
            new = await start_serve(db, TOKEN, port=old.port)
            servers.append(new)
            restarted.append(new)

        def on_line(line: str, _proc: asyncio.subprocess.Process) -> None:
            if line.startswith(f"line {kill_at:05d}") and not pending:
                pending.append(asyncio.get_running_loop().create_task(restart()))

        try:
            run = await run_cli(
                tmp,
                str(notebook),
                "--runtime",
                runtime,
                "--sync-url",
                servers[0].sync_url,
                "--notebook-id",
                f"restart-{runtime}",
                "--output",
                str(out),
                env=base_env(tmp, extra={"AUTH_TOKEN": TOKEN}),
                on_line=on_line,
                limit=limit,
            )
        finally:
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
    delivery = _delivery(run, out, ["count"], lines)
    delivery.restarted = bool(restarted)
    return delivery


@dataclass
class Killed:
    run: Run
    detection_s: float | None  # SIGKILL of the runtime to the CLI's exit


async def runtime_killed_mid_cell(tmp: Path, runtime: str, *, limit: float = 90) -> Killed:
    """The kernel / Deno child SIGKILLed while a cell spins; GitHub mode, so a summary."""
    notebook = write_notebook(
        tmp,
        "killed.yml",
        [
            {"id": "spin", "source": "print('spinning', flush=True)\nwhile True:\n    pass\n"},
            {"id": "later", "source": "print('LATER')"},
        ],
    )
    killed: list[float] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if line.startswith("spinning") and not killed:
            pid = runtime_pid(proc.pid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(time.monotonic())

    run = await run_cli(
        tmp,
        str(notebook),
        "--runtime",
        runtime,
        "--output",
        str(tmp / "killed.ipynb"),
        env=base_env(tmp, github=True),
        on_line=on_line,
        limit=limit,
    )
    return Killed(run, run.ended_at - killed[0] if killed else None)


@dataclass
class BigLine:
    run: Run
    size: int
    received: int  # how many of the line's bytes reached the .ipynb
    intact: bool


async def one_big_line(tmp: Path, runtime: str, size: int, *, limit: float = 100) -> BigLine:
    """``print("B" * size)``: does the line reach the .ipynb whole, exactly once?"""
    notebook = write_notebook(tmp, "line.yml", [{"id": "line", "source": f'print("B" * {size})'}])
    out = tmp / "line.ipynb"
    run = await run_cli(
        tmp,
        str(notebook),
        "--runtime",
        runtime,
        "--output",
        str(out),
        env=base_env(tmp, github=True),
        limit=limit,
    )
    text = stream_text(cell_by_id(read_ipynb(out), "line")) if out.is_file() else ""
    received = text.count("B")
    intact = received == size and text.strip("\n") == "B" * size
    return BigLine(run, size, received, intact)
