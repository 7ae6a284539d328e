"""Fixtures: a real sync server with the viewer mounted, and a real client writing events."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from viewer_helpers import FAST, Connect

from runt_action.livestore import SyncServer, connect_store
from runt_action.livestore.store import Store
from runt_action.schema.state import NotebookMaterializer, NotebookState
from runt_action.viewer import Viewer, attach_viewer


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
