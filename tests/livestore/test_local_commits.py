"""Writers sharing one Store see each other's commits at once, before the server confirms
them (``Store.on_commit``, ``Store.pending``, ``wait_for(committed=...)``); the materialized
state still moves only on confirmation. The fault proxy, as a gate, holds the client's
frames, so "before confirmation" is a fact of the test, not a race."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from livestore_helpers import FAST, ListMaterializer, Log

sys.path.insert(0, str(Path(__file__).parents[1] / "faults"))
from proxy import FaultProxy  # tests/faults/proxy.py

from runt_action.livestore import Store, SyncServer, connect_store

WAIT_S = 10.0


async def _store(url: str, client: str) -> Store[Log]:
    return await connect_store(
        url,
        "s1",
        None,
        ListMaterializer(),
        client_id=client,
        session_id=f"{client}-session",
        timeouts=FAST,
        keep_events=True,
    )


async def test_listeners_see_each_commit_in_order_before_it_is_confirmed(
    server: SyncServer,
) -> None:
    seen: list[tuple[str, Any, bool, int]] = []
    async with FaultProxy.gate(server.port) as gate:
        st = await _store(gate.url(server.url), "a")
        try:
            gate.hold()

            def listener(name: str, args: Any) -> None:
                seen.append(
                    (name, args, futures[-1].done() if futures else False, len(st.state.events))
                )

            futures: list[Any] = []
            with st.on_commit(listener):
                futures.append(st.commit("v1.A", {"n": 1, "t": (1, 2)}))
                futures.append(st.commit("v1.B", {"n": 2}))
            st.commit("v1.C", {"n": 3})  # outside the block: not seen
            assert [(n, a) for n, a, _, _ in seen] == [
                ("v1.A", {"n": 1, "t": [1, 2]}),
                ("v1.B", {"n": 2}),
            ]
            assert all(applied == 0 for _, _, _, applied in seen)  # nothing confirmed yet
            assert [n for n, _ in st.pending()] == ["v1.A", "v1.B", "v1.C"]
            gate.release()
            await st.flush(timeout=WAIT_S)
            assert st.pending() == []
            assert [e.name for e in st.state.events] == ["v1.A", "v1.B", "v1.C"]
        finally:
            await st.close()


async def test_a_failing_listener_is_logged_and_skipped(
    server: SyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    st = await _store(server.url, "a")
    got: list[str] = []

    def broken(name: str, args: Any) -> None:
        raise RuntimeError("boom")

    try:
        with (
            caplog.at_level(logging.WARNING),
            st.on_commit(broken),
            st.on_commit(lambda n, a: got.append(n)),
        ):
            fut = st.commit("v1.A", {"n": 1})
        assert got == ["v1.A"]
        assert "commit listener" in caplog.text and "v1.A" in caplog.text
        assert (await fut).name == "v1.A"  # the commit itself is unaffected
    finally:
        await st.close()


async def test_wait_for_resolves_on_a_matching_commit_before_confirmation(
    server: SyncServer,
) -> None:
    async with FaultProxy.gate(server.port) as gate:
        st = await _store(gate.url(server.url), "a")
        try:
            gate.hold()

            async def waiter() -> Any:
                return await st.wait_for(
                    lambda s: None,
                    timeout=WAIT_S,
                    committed=lambda n, a: a["n"] if n == "v1.Done" else None,
                )

            task = asyncio.create_task(waiter())
            await asyncio.sleep(0)  # the waiter is registered
            st.commit("v1.Other", {"n": 1})
            st.commit("v1.Done", {"n": 7})
            assert await task == 7
            assert st.state.events == []  # resolved by the commit, not by a confirmation
        finally:
            gate.release()
            await st.close()


async def test_wait_for_still_resolves_from_confirmed_state(server: SyncServer) -> None:
    a = await _store(server.url, "a")
    b = await _store(server.url, "b")
    try:
        # b's commit is not a's: only a's confirmed state can resolve a's waiter.
        task = asyncio.create_task(
            a.wait_for(
                lambda s: any(e.name == "v1.FromB" for e in s.events),
                timeout=WAIT_S,
                committed=lambda n, _a: n == "v1.FromB",
            )
        )
        await asyncio.sleep(0)
        b.commit("v1.FromB", {"x": 1})
        assert await task is True
        assert [e.name for e in a.state.events] == ["v1.FromB"]
    finally:
        await a.close()
        await b.close()
