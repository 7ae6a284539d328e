"""Fixtures: a real sync server with the viewer mounted, and a real client writing events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runt_action.livestore import SyncServer, connect_store
from runt_action.livestore.store import Store
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookMaterializer, NotebookState
from runt_action.timeouts import Timeouts
from runt_action.viewer import Viewer, attach_viewer

FAST = Timeouts(connect=10.0, request=10.0)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cell_events(cell_id: str, index: str, source: str, kind: str = "code") -> list[ev.RuntEvent]:
    return [
        ev.CellCreated2(id=cell_id, fractionalIndex=index, cellType=kind, createdBy="test"),
        ev.CellSourceChanged(id=cell_id, source=source, modifiedBy="test"),
    ]


def run_events(cell_id: str, queue_id: str, text: str, status: str = "success") -> list[Any]:
    return [
        ev.ExecutionRequested(queueId=queue_id, cellId=cell_id, executionCount=1, requestedBy="t"),
        ev.ExecutionStarted(queueId=queue_id, cellId=cell_id, runtimeSessionId="s", startedAt=NOW),
        ev.TerminalOutputAdded(
            id=f"o-{queue_id}",
            cellId=cell_id,
            position=0,
            content=ev.InlineMedia(data=text),
            streamName="stdout",
        ),
        ev.ExecutionCompleted(
            queueId=queue_id,
            cellId=cell_id,
            status=status,
            completedAt=NOW,
            executionDurationMs=1234,
        ),
    ]


async def commit_all(store: Store[NotebookState], events: list[Any]) -> None:
    for event in events:
        store.commit(*event.wire())
    await store.flush(10)


Connect = Callable[[str], Awaitable[Store[NotebookState]]]


@pytest.fixture
async def served() -> AsyncIterator[tuple[SyncServer, Viewer]]:
    server = SyncServer()
    viewer = attach_viewer(server)
    await server.start()
    try:
        yield server, viewer
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def writer(served: tuple[SyncServer, Viewer]) -> AsyncIterator[Connect]:
    """Connect a real LiveStore client to a store on the served server."""
    stores: list[Store[NotebookState]] = []

    async def connect(store_id: str) -> Store[NotebookState]:
        store = await connect_store(
            served[0].url,
            store_id,
            {},
            NotebookMaterializer(),
            client_id="writer",
            session_id="w1",
            timeouts=FAST,
        )
        stores.append(store)
        return store

    try:
        yield connect
    finally:
        for store in stores:
            await store.close()
