"""Store.push_now sends the commits of the current loop step at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from livestore_helpers import FAST, ListMaterializer

from runt_action.livestore import Event, SyncServer, connect_store


async def test_push_now_sends_what_is_committed_so_far_as_its_own_push() -> None:
    batches: list[list[str]] = []

    def on_push(_store: str, events: Sequence[Event]) -> None:
        batches.append([e.name for e in events])

    server = SyncServer(on_push=on_push)
    await server.start()
    try:
        store = await connect_store(
            server.url,
            "s1",
            None,
            ListMaterializer(),
            client_id="A",
            session_id="A-session",
            timeouts=FAST,
        )
        async with store:
            store.commit("v1.A")
            store.commit("v1.B")
            store.push_now()
            store.push_now()  # nothing left: no empty push
            store.commit("v1.C")  # the same step: batched on its own, sent at the step's end
            store.commit("v1.D")
            await store.flush(timeout=5)
            assert [e.name for e in store.state.events] == ["v1.A", "v1.B", "v1.C", "v1.D"]
            await asyncio.sleep(0)
    finally:
        await server.stop()
    assert batches == [["v1.A", "v1.B"], ["v1.C", "v1.D"]]


async def test_push_now_without_commits_does_nothing(server: SyncServer) -> None:
    store = await connect_store(
        server.url,
        "s2",
        None,
        ListMaterializer(),
        client_id="B",
        session_id="B-session",
        timeouts=FAST,
    )
    async with store:
        store.push_now()
        event = await asyncio.wait_for(store.commit("v1.X"), 5)
        assert event.seq_num == 1
