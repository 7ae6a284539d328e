"""Fixtures: a real embedded server on 127.0.0.1 and an aiohttp session."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runt_action.livestore import SyncServer


@pytest.fixture
async def server() -> AsyncIterator[SyncServer]:
    srv = SyncServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
