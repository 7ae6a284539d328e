"""Server extras: scrubbed persistence, push listeners, extra routes, replay, slow peers."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from livestore_helpers import FAST, ListMaterializer, Log, ws_url
from test_server import push, recv_json

from runt_action.livestore import Event, Store, SyncServer, connect_store
from runt_action.livestore.protocol import PullReq, encode

SECRET = "hunter2-s3cr3t"


def scrub(text: str) -> str:
    return text.replace(SECRET, "***")


async def open_store(url: str, client: str, store_id: str = "s1") -> Store[Log]:
    return await connect_store(
        url,
        store_id,
        None,
        ListMaterializer(),
        client_id=client,
        session_id=f"{client}-session",
        timeouts=FAST,
    )


def bytes_at_rest(db: Path) -> bytes:
    """The database file and its -wal / -shm companions, raw."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def listing(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def texts(store: Store[Log]) -> list[str]:
    return [json.dumps(e.args) for e in store.state.events]


async def test_a_scrubbing_server_never_writes_the_secret_but_serves_it_raw(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runt-sync.sqlite"
    server = SyncServer(db, scrub=scrub)
    await server.start()
    try:
        async with await open_store(server.url, "A") as a, await open_store(server.url, "B") as b:
            for i in range(3):
                a.commit("v1.Out", {"text": f"token={SECRET} #{i}", "n": i})
            await a.flush(timeout=5)
            await b.wait_for(lambda s: len(s.events) == 3, timeout=5)
            assert all(SECRET in t for t in texts(b))  # live clients: raw
        async with await open_store(server.url, "C") as late:  # a pull, after the fact
            assert all(SECRET in t for t in texts(late))
        assert all(SECRET in json.dumps(e.args) for e in server.events_of("s1"))
        assert SECRET.encode() not in bytes_at_rest(db)
        assert b"***" in bytes_at_rest(db)
    finally:
        await server.stop()
    assert SECRET.encode() not in bytes_at_rest(db)
    rows = sqlite3.connect(db).execute("SELECT args FROM eventlog_7_s1 ORDER BY seqNum")
    assert [json.loads(r[0])["text"] for r in rows] == [f"token=*** #{i}" for i in range(3)]
    # After a restart only the scrubbed text exists: that is what is served.
    again = SyncServer(db, scrub=scrub)
    await again.start()
    try:
        async with await open_store(again.url, "D") as d:
            assert [e.args["text"] for e in d.state.events] == [f"token=*** #{i}" for i in range(3)]
    finally:
        await again.stop()


async def test_a_scrubber_that_breaks_the_json_persists_a_visible_placeholder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite"
    server = SyncServer(db, scrub=lambda t: t.replace(SECRET, '"broken'))
    await server.start()
    try:
        async with await open_store(server.url, "A") as a:
            await a.commit("v1.Out", {"text": SECRET})
            assert a.state.events[0].args == {"text": SECRET}
    finally:
        await server.stop()
    assert SECRET.encode() not in bytes_at_rest(db)
    [(args,)] = sqlite3.connect(db).execute("SELECT args FROM eventlog_7_s1").fetchall()
    assert "could not be scrubbed" in json.loads(args)
    assert any("e1 v1.Out" in r.getMessage() for r in caplog.records)


async def test_an_in_memory_server_keeps_events_raw_and_touches_no_file(tmp_path: Path) -> None:
    calls: list[str] = []

    def counting(text: str) -> str:
        calls.append(text)
        return scrub(text)

    server = SyncServer(scrub=counting)
    await server.start()
    try:
        async with await open_store(server.url, "A") as a:
            await a.commit("v1.Out", {"text": SECRET})
        assert server.events_of("s1")[0].args == {"text": SECRET}
    finally:
        await server.stop()
    assert calls == []  # nothing at rest, nothing to scrub
    assert listing(tmp_path) == []  # no file was written


async def test_push_listeners_are_isolated_and_removable(
    server: SyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, list[int]]] = []
    later: list[int] = []

    def broken(store_id: str, events: Sequence[Event]) -> None:
        raise RuntimeError("listener bug")

    def good(store_id: str, events: Sequence[Event]) -> None:
        seen.append((store_id, [e.seq_num for e in events]))

    server.add_push_listener(broken)
    server.add_push_listener(good)
    async with await open_store(server.url, "A") as a:
        first = await a.commit("v1.N", {"i": 1})
        assert first.seq_num == 1  # the push went through despite the broken listener
        server.remove_push_listener(good)
        server.add_push_listener(lambda s, events: later.extend(e.seq_num for e in events))
        await a.commit("v1.N", {"i": 2})
    assert seen == [("s1", [1])]
    assert later == [2]
    assert any("listener" in r.getMessage() and "e1..e1" in r.getMessage() for r in caplog.records)


async def test_events_of_replays_a_store_from_the_servers_storage(tmp_path: Path) -> None:
    server = SyncServer(tmp_path / "log.sqlite")
    await server.start()
    try:
        async with await open_store(server.url, "A", "nb") as a:
            for i in range(250):  # more than one pull chunk
                a.commit("v1.N", {"i": i})
            a.commit("v1.Bare")
            confirmed = await asyncio.wait_for(asyncio.gather(*a._client.unconfirmed()), 10)  # type: ignore[union-attr]
        replay = server.events_of("nb")
        assert [(e.seq_num, e.name, e.args) for e in replay] == [
            (e.seq_num, e.name, e.args) for e in confirmed
        ]
        assert all(e.created_at for e in replay) and replay[-1].args is None
        assert server.events_of("other") == []
    finally:
        await server.stop()


async def test_the_app_takes_extra_routes_before_start() -> None:
    from aiohttp import web

    server = SyncServer()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="view")

    server.app.router.add_get("/view", hello)
    await server.start()
    try:
        base = server.url.removesuffix("/livestore")
        async with aiohttp.ClientSession() as http, http.get(base + "/view") as resp:
            assert await resp.text() == "view"
    finally:
        await server.stop()


async def test_a_pull_of_a_long_log_interleaves_with_broadcasts_in_room_order(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with await open_store(server.url, "A") as a:
        for i in range(250):
            a.commit("v1.N", {"i": i})
        await a.flush(timeout=10)
        async with http.ws_connect(ws_url(server), max_msg_size=0) as ws:
            await ws.send_str(encode(PullReq("r")))
            frames = [await recv_json(ws)]  # the pull is under way; a push lands now
            await a.commit("v1.After")
            frames += [await recv_json(ws) for _ in range(3)]
    pulls = [f for f in frames if f["requestId"]["context"] == "pull"]
    assert [len(f["batch"]) for f in pulls] == [100, 100, 50]
    assert [f["remaining"] for f in pulls] == [150, 50, 0]
    assert frames[-1]["requestId"]["context"] == "push"  # after the pull, as the room decided
    assert frames[-1]["batch"][0]["eventEncoded"]["seqNum"] == 251


async def test_a_peer_that_stops_reading_is_cut_at_the_bound_and_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bound = 4
    server = SyncServer(outbox_size=bound)
    peak = 0

    def watch(store_id: str, events: Sequence[Event]) -> None:
        nonlocal peak
        peak = max([peak, *(p.outbox.qsize() for p in server._peers)])

    server.add_push_listener(watch)
    await server.start()
    host, port = "127.0.0.1", server.port
    # A raw websocket client with a tiny receive buffer that never reads after the handshake.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    path = ws_url(server).removeprefix(f"ws://{host}:{port}")
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    assert b" 101 " in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    try:
        async with await open_store(server.url, "A") as a:
            blob = "x" * 100_000
            futures = [a.commit("v1.Big", {"i": i, "blob": blob}) for i in range(300)]
            # The pusher is never held up by the stuck peer.
            await asyncio.wait_for(asyncio.gather(*futures), 30)
            assert peak <= bound
            assert len(server._peers) == 1  # the stuck peer was cut
            async with await open_store(server.url, "B") as b:  # nothing lost in the log
                assert [e.args["i"] for e in b.state.events] == list(range(300))
    finally:
        writer.close()
        await server.stop()
    assert any("frames waiting; dropping its socket" in r.getMessage() for r in caplog.records)


async def test_a_raw_push_reaches_listeners_with_created_at(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    got: list[Event] = []
    server.add_push_listener(lambda s, events: got.extend(events))
    async with http.ws_connect(ws_url(server)) as ws:
        await push(ws, "p", Event("v1.N", {"a": 1}, 1, 0, "c", "s"))
        assert (await recv_json(ws))["_tag"] == "WSMessage.PushAck"
    assert [(e.name, e.args) for e in got] == [("v1.N", {"a": 1})] and got[0].created_at
