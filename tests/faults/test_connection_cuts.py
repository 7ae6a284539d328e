"""Every websocket cut every 0.5-2 s and every frame delayed: nothing lost, nothing doubled.

The run talks to an external ``runt-automate serve`` through our loopback proxy
(proxy.py), exactly as it would to a remote sync server behind a flaky network.
"""

from __future__ import annotations

from pathlib import Path

from scenarios import through_cutting_proxy


async def test_run_survives_connection_cuts(tmp_path: Path, runtime: str) -> None:
    got = await through_cutting_proxy(tmp_path, runtime, lines=300)
    assert got.run.returncode == 0, got.run.tail()
    assert (got.lost, got.duplicated) == ([], []), (
        f"lost {got.lost[:20]}, duplicated {got.duplicated[:20]}"
    )
    # The faults really happened: connections were cut while the run was in flight.
    assert got.cuts is not None and got.cuts.cuts >= 3, got.cuts
    print(f"cuts survived: {got.cuts.cuts} over {got.cuts.connections} connections")
