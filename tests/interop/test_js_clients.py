"""Two real LiveStore JS clients syncing through each backend (real sync-cf and our SyncServer).

The JS client's own behaviour (live broadcast, push rejection then rebase) is the reference a
LiveStore backend must satisfy; our embedded server has to pass the same checks as workerd.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.interop


async def test_js_to_js_live(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    watcher = await js_client(sync_url, store_id, client_id="js-a", wait_cells=2, wait_outputs=2)
    await watcher.next_message("ready")
    events = cell_events(2, actor="js-b", tag="b")
    writer = await js_client(sync_url, store_id, client_id="js-b", commit=events)
    assert (await writer.next_message("committed"))["upstreamHead"] == len(events)
    tables = await watcher.next_message("tables")
    assert [(c["id"], c["source"], c["executionState"]) for c in tables["cells"]] == [
        ("b-cell-0", "print(0)", "queued"),
        ("b-cell-1", "print(1)", "queued"),
    ]
    assert [o["data"] for o in tables["outputs"]] == ["0\n", "1\n"]
    assert list(await asyncio.gather(watcher.finish(), writer.finish())) == [0, 0]


async def test_js_clients_concurrent_pushes_rebase_and_converge(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    """Both push from e0 at about the same time; whoever loses rebases, and both agree."""
    a = await js_client(
        sync_url,
        store_id,
        client_id="js-a",
        commit=cell_events(2, actor="a", tag="a"),
        wait_cells=4,
    )
    b = await js_client(
        sync_url,
        store_id,
        client_id="js-b",
        commit=cell_events(2, actor="b", tag="b"),
        wait_cells=4,
    )
    heads = [(await c.next_message("committed"))["upstreamHead"] for c in (a, b)]
    assert max(heads) == 16
    tables = [await c.next_message("tables") for c in (a, b)]
    assert tables[0]["cells"] == tables[1]["cells"]
    assert {c["id"] for c in tables[0]["cells"]} == {"a-cell-0", "a-cell-1", "b-cell-0", "b-cell-1"}
    assert list(await asyncio.gather(a.finish(), b.finish())) == [0, 0]
