"""Every websocket cut every 0.5-2 s and every frame delayed: nothing lost, nothing doubled.

The run talks to an external ``runt-automate serve`` through our loopback proxy
(proxy.py), exactly as it would to a remote sync server behind a flaky network.
"""

from __future__ import annotations

from pathlib import Path

from faultlib import (
    base_env,
    cell_by_id,
    lost_and_duplicated,
    numbered_counts,
    read_ipynb,
    run_cli,
    serving,
    stream_text,
    write_notebook,
)
from proxy import FaultProxy

TOKEN = "tok-faults-cuts-4c1d"
LINES = 300


def cuts_notebook(tmp_path: Path) -> Path:
    """Two cells printing numbered lines over a few seconds, so cuts land mid-cell."""
    body = (
        "import time\n"
        "for i in range({start}, {stop}):\n"
        "    print(f'line {{i:05d}}', flush=True)\n"
        "    time.sleep(0.02)\n"
    )
    return write_notebook(
        tmp_path,
        "cuts.yml",
        [
            {"id": "first", "source": body.format(start=0, stop=LINES // 2)},
            {"id": "second", "source": body.format(start=LINES // 2, stop=LINES)},
        ],
    )


async def test_run_survives_connection_cuts(tmp_path: Path, runtime: str) -> None:
    notebook = cuts_notebook(tmp_path)
    out = tmp_path / "cuts.ipynb"
    async with (
        serving(tmp_path / "server.sqlite", TOKEN) as servers,
        FaultProxy(servers[0].port, seed=10, max_cuts=30, cut_for=40) as proxy,
    ):
        run = await run_cli(
            tmp_path,
            str(notebook),
            "--runtime",
            runtime,
            "--sync-url",
            f"ws://127.0.0.1:{proxy.port}/livestore",
            "--notebook-id",
            f"cuts-{runtime}",
            "--output",
            str(out),
            env=base_env(tmp_path, extra={"AUTH_TOKEN": TOKEN}),
            limit=100,
        )
    assert run.returncode == 0, run.tail()
    nb = read_ipynb(out)
    text = stream_text(cell_by_id(nb, "first")) + stream_text(cell_by_id(nb, "second"))
    lost, dup = lost_and_duplicated(numbered_counts(text, r"^line (\d{5})$"), LINES)
    assert (lost, dup) == ([], []), f"lost {lost[:20]}, duplicated {dup[:20]}"
    # The faults really happened: connections were cut while the run was in flight.
    assert proxy.stats.cuts >= 3, proxy.stats
    print(f"cuts survived: {proxy.stats.cuts} over {proxy.stats.connections} connections")
