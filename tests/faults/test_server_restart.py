"""The sync server SIGKILLed mid-run and restarted on the same port with the same --db."""

from __future__ import annotations

from pathlib import Path

from faultlib import cell_by_id, stream_text
from scenarios import across_server_restart


async def test_server_killed_and_restarted_loses_nothing(tmp_path: Path, runtime: str) -> None:
    got = await across_server_restart(tmp_path, runtime, lines=200, kill_at=60)
    assert got.restarted, "the server was never killed (the notebook printed too little?)"
    assert got.run.returncode == 0, got.run.tail()
    assert (got.lost, got.duplicated) == ([], []), (
        f"lost {got.lost[:20]}, duplicated {got.duplicated[:20]}"
    )
    assert stream_text(cell_by_id(got.nb, "after")) == "after the restart\n"
