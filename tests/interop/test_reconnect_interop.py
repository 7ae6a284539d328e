"""Our Store across network faults, against the real backend and our SyncServer.

The 0.3.1 JS client never re-pulls after a reconnect and silently loses events pushed while it
was offline (livestore-wire.md §12). Ours must re-pull, rebase what it committed meanwhile,
and leave a log that the real JS client reads back identically. A TCP proxy we can cut is the
only fake here (fault injection); both peers and the server are real.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from runt_action.livestore.events import Event
from runt_action.livestore.store import connect_store
from runt_action.timeouts import Timeouts

pytestmark = pytest.mark.interop

TOKEN = "test-token"
WAIT = 30.0


class CuttableProxy:
    """Forwards TCP to ``upstream``; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.up = True
        self.port = 0
        self.downstream_open = asyncio.Event()  # cleared = hold server->client bytes
        self.downstream_open.set()
        self.upstream_sent = asyncio.Event()  # set whenever client->server bytes pass

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer, after=self.upstream_sent)),
            asyncio.create_task(self._pipe(up_reader, writer, gate=self.downstream_open)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
            self._tasks.discard(task)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        gate: asyncio.Event | None = None,
        after: asyncio.Event | None = None,
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if gate is not None:
                    await gate.wait()
                writer.write(data)
                await writer.drain()
                if after is not None:
                    after.set()


@pytest.fixture
async def proxy(sync_url: str) -> AsyncIterator[CuttableProxy]:
    parts = urlsplit(sync_url)
    assert parts.hostname is not None and parts.port is not None
    p = CuttableProxy(parts.hostname, parts.port)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


class EventLog:
    def initial(self) -> list[Event]:
        return []

    def apply(self, state: list[Event], event: Event) -> None:
        state.append(event)


async def test_outage_repull_and_rebase_against_js_writer(
    sync_url: str, store_id: str, proxy: CuttableProxy, js_client: Any, cell_events: Any
) -> None:
    py_events = cell_events(1, actor="py", tag="py")
    js_events = cell_events(1, actor="js", tag="js")
    store = await connect_store(
        via(sync_url, proxy.port),
        store_id,
        {"authToken": TOKEN},
        EventLog(),
        client_id="py-client",
        session_id="py-session",
        timeouts=Timeouts(connect=5, request=5),
    )
    async with store:
        proxy.cut()
        # Committed offline: queued, and numbered on top of a head that is about to move.
        futures = [store.commit(e["name"], e["args"]) for e in py_events]

        writer = await js_client(sync_url, store_id, commit=js_events)
        assert (await writer.next_message("committed"))["upstreamHead"] == len(js_events)
        assert await writer.finish() == 0
        assert not any(f.done() for f in futures)

        proxy.restore()
        await store.flush(WAIT)
        log: list[Event] = await store.wait_for(lambda s: list(s) if len(s) >= 8 else None, WAIT)

    # The JS events (pushed first, while we were away) come first; ours were rebased after.
    assert [(e.seq_num, e.client_id) for e in log] == [
        (i + 1, "js-client" if i < 4 else "py-client") for i in range(8)
    ]
    assert [(e.name, e.args) for e in log] == [(e["name"], e["args"]) for e in js_events] + [
        (e["name"], e["args"]) for e in py_events
    ]
    assert [f.result().seq_num for f in futures] == [5, 6, 7, 8]

    reader = await js_client(sync_url, store_id, client_id="js-reader", wait_cells=2)
    tables = await reader.next_message("tables")
    assert sorted((c["id"], c["source"]) for c in tables["cells"]) == [
        ("js-cell-0", "print(0)"),
        ("py-cell-0", "print(0)"),
    ]
    assert await reader.finish() == 0


async def test_rejected_push_is_rebased_and_repushed(
    sync_url: str, store_id: str, proxy: CuttableProxy, js_client: Any, cell_events: Any
) -> None:
    """Force the server's "Invalid parent event number" on our push, deterministically.

    We hold the server->client direction, so our store still believes the head is e0 while the
    JS client moves it to e4; our push (parent e0) then reaches the server and must be refused.
    """
    py_events = cell_events(1, actor="py", tag="py")
    js_events = cell_events(1, actor="js", tag="js")
    store = await connect_store(
        via(sync_url, proxy.port),
        store_id,
        {"authToken": TOKEN},
        EventLog(),
        client_id="py-client",
        session_id="py-session",
        timeouts=Timeouts(connect=5, request=20),
        keep_events=True,
    )
    async with store:
        proxy.downstream_open.clear()
        writer = await js_client(sync_url, store_id, commit=js_events)
        assert (await writer.next_message("committed"))["upstreamHead"] == len(js_events)
        assert await writer.finish() == 0

        proxy.upstream_sent.clear()
        futures = [store.commit(e["name"], e["args"]) for e in py_events]
        await asyncio.wait_for(proxy.upstream_sent.wait(), WAIT)  # our stale push is out
        assert list(store.events) == []  # we have not seen the JS events yet
        proxy.downstream_open.set()

        await store.flush(WAIT)
        log = list(store.events)

    assert [(e.seq_num, e.client_id) for e in log] == [
        (i + 1, "js-client" if i < 4 else "py-client") for i in range(8)
    ]
    assert [f.result().seq_num for f in futures] == [5, 6, 7, 8]
    assert [f.result().parent_seq_num for f in futures] == [4, 5, 6, 7]
