"""The sync server SIGKILLed mid-run and restarted on the same port with the same --db."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from faultlib import (
    Serve,
    base_env,
    cell_by_id,
    lost_and_duplicated,
    numbered_counts,
    read_ipynb,
    run_cli,
    serving,
    start_serve,
    stream_text,
    write_notebook,
)

TOKEN = "tok-faults-restart-77aa"
LINES = 200
KILL_AT = 60  # the line after which the server dies


async def test_server_killed_and_restarted_loses_nothing(tmp_path: Path, runtime: str) -> None:
    notebook = write_notebook(
        tmp_path,
        "restart.yml",
        [
            {
                "id": "count",
                "source": (
                    "import time\n"
                    f"for i in range({LINES}):\n"
                    "    print(f'line {i:05d}', flush=True)\n"
                    "    time.sleep(0.02)\n"
                ),
            },
            {"id": "after", "source": "print('after the restart')"},
        ],
    )
    db = tmp_path / "server.sqlite"
    out = tmp_path / "restart.ipynb"
    restarted: list[Serve] = []

    async with serving(db, TOKEN) as servers:
        restart_task: list[asyncio.Task[None]] = []

        async def restart() -> None:
            old = servers[0]
            os.killpg(old.proc.pid, signal.SIGKILL)  # no goodbye: sockets just die
            await old.proc.wait()
            new = await start_serve(db, TOKEN, port=old.port)
            servers.append(new)
            restarted.append(new)

        def on_line(line: str, _proc: asyncio.subprocess.Process) -> None:
            if line.startswith(f"line {KILL_AT:05d}") and not restart_task:
                restart_task.append(asyncio.get_running_loop().create_task(restart()))

        try:
            run = await run_cli(
                tmp_path,
                str(notebook),
                "--runtime",
                runtime,
                "--sync-url",
                servers[0].sync_url,
                "--notebook-id",
                f"restart-{runtime}",
                "--output",
                str(out),
                env=base_env(tmp_path, extra={"AUTH_TOKEN": TOKEN}),
                on_line=on_line,
                limit=100,
            )
        finally:
            for task in restart_task:
                with contextlib.suppress(BaseException):
                    await task

    assert restarted, "the server was never killed (the notebook printed too little?)"
    assert run.returncode == 0, run.tail()
    nb = read_ipynb(out)
    text = stream_text(cell_by_id(nb, "count"))
    lost, dup = lost_and_duplicated(numbered_counts(text, r"^line (\d{5})$"), LINES)
    assert (lost, dup) == ([], []), f"lost {lost[:20]}, duplicated {dup[:20]}"
    assert stream_text(cell_by_id(nb, "after")) == "after the restart\n"
