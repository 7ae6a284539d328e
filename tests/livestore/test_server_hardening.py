"""Issue #20: nothing a client sends costs the embedded server more than a bounded amount,
breaks its log, or reaches aiohttp's error logging. Real sockets against a real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import sqlite3
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livestore_helpers import ws_url
from yarl import URL

from runt_action.errors import UsageError
from runt_action.livestore import Event, SyncServer
from runt_action.livestore.protocol import (
    MAX_ARGS_DEPTH,
    PING_TEXT,
    PONG_TEXT,
    PullReq,
    PushRejected,
    PushReq,
    check_push,
    dumps,
    encode,
    encode_query,
    json_deeper_than,
    strict_loads,
)

# --- helpers ----------------------------------------------------------------------------

OUR_DDL = (
    "CREATE TABLE {table} ('seqNum' integer not null, 'parentSeqNum' integer not null, "
    "'name' text not null, 'args' text, 'createdAt' text not null, 'clientId' text not null, "
    "'sessionId' text not null, PRIMARY KEY ('seqNum')) strict"
)


def ev(seq: int, name: str = "v1.NoteAdded", args: Any = None) -> Event:
    return Event(name, {"n": seq} if args is None else args, seq, seq - 1, "c", "s")


def push_frame(rid: str, *events: dict[str, Any], raw_args: str | None = None) -> str:
    """A PushReq frame escaped to ASCII (so lone surrogates travel as ``\\ud800``); with
    ``raw_args`` the first event's args are that JSON text, verbatim."""
    frame = json.dumps(
        {"_tag": "WSMessage.PushReq", "requestId": rid, "batch": list(events)}, allow_nan=True
    )
    if raw_args is not None:
        frame = frame.replace('"@ARGS@"', raw_args, 1)
    return frame


def wire(seq: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "name": "v1.X",
        "args": {"n": seq},
        "seqNum": seq,
        "parentSeqNum": seq - 1,
        "clientId": "c",
        "sessionId": "s",
    }
    event.update(fields)
    return event


async def answers(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every frame the server sends before the Pong to a Ping sent now (frames are answered
    in order, so these are the answers to what was sent before)."""
    await ws.send_str(PING_TEXT)
    got: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        if msg.data == PONG_TEXT:
            return got
        got.append(json.loads(msg.data))


async def pulled_seqs(ws: aiohttp.ClientWebSocketResponse, cursor: int | None = None) -> list[int]:
    await ws.send_str(encode(PullReq("check", cursor)))
    frames = await answers(ws)
    return [i["eventEncoded"]["seqNum"] for f in frames for i in f["batch"]]


async def push_ok(ws: aiohttp.ClientWebSocketResponse, *events: Event) -> None:
    await ws.send_str(encode(PushReq("ok", events)))
    got = await answers(ws)
    assert got[0] == {"_tag": "WSMessage.PushAck", "requestId": "ok"}, got


def tables(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        con.close()
    return sorted(r[0] for r in rows)


async def bounded(condition: Any, seconds: float = 5.0) -> None:
    """Poll ``condition`` until it holds, for at most ``seconds``."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still false after {seconds}s")


class RawConnection:
    """A TCP connection speaking HTTP/websocket by hand, for what a client library won't send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: SyncServer) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer)

    async def upgrade(self, server: SyncServer, store_id: str = "s1") -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            f"GET /livestore/websocket?{encode_query(store_id)} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head

    async def read_close_frame(self) -> tuple[int, bytes]:
        """The code and reason of the close frame the server sends next."""
        async with asyncio.timeout(5):
            first, second = await self.reader.readexactly(2)
            assert first == 0x88, hex(first)  # FIN + close, unmasked
            payload = await self.reader.readexactly(second & 0x7F)
        return struct.unpack("!H", payload[:2])[0], payload[2:]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def raws() -> AsyncIterator[list[RawConnection]]:
    opened: list[RawConnection] = []
    try:
        yield opened
    finally:
        for raw in opened:
            await raw.close()


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# --- 1. stores are created only by a push -------------------------------------------------


async def test_reads_of_unknown_stores_create_nothing(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "sync.db"
    server = SyncServer(db)
    await server.start()
    try:
        for i in range(40):
            async with http.ws_connect(ws_url(server, f"probe-{i}")) as ws:
                assert await pulled_seqs(ws) == []
                assert await pulled_seqs(ws, 5) == []
            assert server.events_of(f"viewer-{i}") == []
        await bounded(lambda: not server._rooms)  # no room outlives its sockets
        assert server.store_ids() == []
        assert tables(db) == []
        assert db.stat().st_size <= 32 * 1024
        async with http.ws_connect(ws_url(server, "real-one")) as ws:
            await push_ok(ws, ev(1))
        assert server.store_ids() == ["real-one"]
        assert tables(db) == ["eventlog_7_real_one"]
    finally:
        await server.stop()


async def test_store_ids_are_bounded_at_the_handshake(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    for bad in ("", "x" * 129):
        async with http.get(ws_url(server, bad).replace("ws://", "http://")) as resp:
            assert resp.status == 400
            assert "storeId must be 1 to 128 characters long" in await resp.text()
    async with http.ws_connect(ws_url(server, "x" * 128)) as ws:
        await push_ok(ws, ev(1))
    assert server.store_ids() == ["x" * 128]


async def test_a_push_that_would_create_one_store_too_many_is_refused(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "sync.db"
    server = SyncServer(db, max_stores=2)
    await server.start()
    try:
        for store in ("a", "b"):
            async with http.ws_connect(ws_url(server, store)) as ws:
                await push_ok(ws, ev(1))
        async with http.ws_connect(ws_url(server, "c")) as ws:
            await ws.send_str(encode(PushReq("third", (ev(1),))))
            (error,) = await answers(ws)
            assert error["_tag"] == "WSMessage.Error"
            assert error["requestId"] == "third"
            assert "already holds 2 stores" in error["message"]
            assert await pulled_seqs(ws) == []
        async with http.ws_connect(ws_url(server, "a")) as ws:  # existing stores still grow
            await push_ok(ws, ev(2))
        assert server.store_ids() == ["a", "b"]
        assert tables(db) == ["eventlog_7_a", "eventlog_7_b"]
    finally:
        await server.stop()


async def test_a_reset_store_is_gone(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = SyncServer(tmp_path / "sync.db", admin_secret="admin", max_stores=1)
    await server.start()
    try:
        async with http.ws_connect(ws_url(server, "a")) as ws:
            await push_ok(ws, ev(1))
            await ws.send_str(
                '{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r","adminSecret":"admin"}'
            )
            assert (await answers(ws))[0]["_tag"] == "WSMessage.AdminResetRoomRes"
        assert server.store_ids() == []
        async with http.ws_connect(ws_url(server, "b")) as ws:  # the slot is free again
            await push_ok(ws, ev(1))
        assert server.store_ids() == ["b"]
    finally:
        await server.stop()


async def test_a_restart_lists_only_stores_with_events(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    con = sqlite3.connect(db)  # what an earlier version left behind after reads
    con.execute(OUR_DDL.format(table="eventlog_7_empty"))
    con.commit()
    con.close()
    server = SyncServer(db)
    await server.start()
    try:
        assert server.store_ids() == []
    finally:
        await server.stop()


# --- 2. limits while reading ----------------------------------------------------------------


async def test_an_oversized_frame_is_refused_from_its_header(
    server: SyncServer, raws: list[RawConnection]
) -> None:
    raw = await RawConnection.open(server)
    raws.append(raw)
    await raw.upgrade(server)
    declared = 60_000_000
    # A masked text frame announcing 60 MB, of which only 1 KiB is ever sent.
    raw.writer.write(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", declared) + b"mask")
    raw.writer.write(b"x" * 1024)
    code, reason = await raw.read_close_frame()
    assert code == 1009
    assert reason == f"Message is too large: {declared} > 1048576".encode()


async def test_a_frame_of_exactly_one_mib_is_read(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        envelope = encode(PushReq("big", (ev(1, args={"t": ""}),)))
        padding = 1_048_576 - len(envelope)
        frame = encode(PushReq("big", (ev(1, args={"t": "x" * padding}),)))
        assert len(frame) == 1_048_576
        await ws.send_str(frame)
        assert (await answers(ws))[0]["_tag"] == "WSMessage.PushAck"


async def test_binary_frames_close_the_socket_with_1003(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        await ws.send_bytes(b'{"_tag":"WSMessage.PullReq","requestId":"r"}')
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1003
        assert msg.extra == "Binary frames are not supported"


async def test_request_headers_must_arrive_in_time(raws: list[RawConnection]) -> None:
    server = SyncServer(header_timeout=0.3)
    await server.start()
    try:
        raw = await RawConnection.open(server)
        raws.append(raw)
        raw.writer.write(b"GET /livestore/websocket?storeId=s HTTP/1.1\r\nHost: 127.0")
        async with asyncio.timeout(5):
            assert await raw.reader.read() == b""  # closed by the server, nothing answered
    finally:
        await server.stop()


async def test_an_idle_socket_outlives_the_header_timeout(http: aiohttp.ClientSession) -> None:
    server = SyncServer(header_timeout=0.2)
    await server.start()
    try:
        async with http.ws_connect(ws_url(server)) as ws:
            await asyncio.sleep(0.6)
            assert await answers(ws) == []  # the Pong came: the socket is still open
    finally:
        await server.stop()


async def test_connections_per_address_are_bounded(
    http: aiohttp.ClientSession, raws: list[RawConnection]
) -> None:
    server = SyncServer(max_connections_per_address=3)
    await server.start()
    try:
        sockets = [await http.ws_connect(ws_url(server)) for _ in range(3)]
        extra = await RawConnection.open(server)
        raws.append(extra)
        async with asyncio.timeout(5):
            refused = await extra.reader.read()
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert refused.endswith(b"\r\n\r\n503: too many connections from this address.\n")
        with pytest.raises((aiohttp.WSServerHandshakeError, aiohttp.ClientConnectionError)):
            await http.ws_connect(ws_url(server))
        await sockets.pop().close()

        async def reconnect() -> aiohttp.ClientWebSocketResponse:
            while True:  # until the server has seen the closed socket go
                try:
                    return await http.ws_connect(ws_url(server))
                except (aiohttp.WSServerHandshakeError, aiohttp.ClientConnectionError):
                    await asyncio.sleep(0.02)

        async with asyncio.timeout(5):
            sockets.append(await reconnect())
        assert await answers(sockets[-1]) == []
        for ws in sockets:
            await ws.close()
    finally:
        await server.stop()


# --- 3. the log is never left with a gap -------------------------------------------------


async def test_a_lone_surrogate_leaves_no_gap(
    server: SyncServer, http: aiohttp.ClientSession, no_errors: None
) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        await ws.send_str(push_frame("bad", wire(1, args={"t": "\ud800"})))
        (error,) = await answers(ws)
        assert error["_tag"] == "WSMessage.Error"
        assert "lone surrogate" in error["message"]
        await push_ok(ws, ev(1))  # e1 is still free
        await ws.send_str(push_frame("lost", wire(2, args={"t": "\ud800"}), wire(3)))
        assert (await answers(ws))[0]["_tag"] == "WSMessage.Error"
        await ws.send_str(push_frame("after-lost", wire(3)))
        assert (await answers(ws))[0]["message"] == (
            "Invalid parent event number. Received e2 but expected e1"
        )
        await push_ok(ws, ev(2))
        assert await pulled_seqs(ws) == [1, 2]


async def test_a_storage_error_changes_nothing_and_tells_only_the_pusher(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "sync.db"
    server = SyncServer(db)
    await server.start()
    try:
        async with http.ws_connect(ws_url(server)) as a, http.ws_connect(ws_url(server)) as b:
            await push_ok(a, ev(1))
            assert len(await answers(b)) == 1  # e1's broadcast
            con = sqlite3.connect(db)
            con.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON eventlog_7_s1 WHEN NEW.name = 'v1.Fail' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
            con.commit()
            con.close()
            await a.send_str(encode(PushReq("fails", (ev(2, "v1.Fail"), ev(3)))))
            (error,) = await answers(a)
            assert error["_tag"] == "WSMessage.Error"
            assert error["requestId"] == "fails"
            assert "injected failure" in error["message"]
            assert await answers(b) == []  # no broadcast
            await push_ok(a, ev(2), ev(3))  # the head did not move
            (broadcast,) = await answers(b)
            assert [i["eventEncoded"]["seqNum"] for i in broadcast["batch"]] == [2, 3]
            assert await pulled_seqs(a) == [1, 2, 3]
    finally:
        await server.stop()


# --- 4. malformed frames: a protocol error or ignored, never an exception -------------------

DEEP = "[" * 100_000 + "]" * 100_000
SURROGATE = "\ud800"

MALFORMED: dict[str, tuple[str, str]] = {
    # name: (frame, what answers it: "none", "error", or the seqNums a pull returns)
    "cursor 2**63": (encode(PullReq("r", 2**63)), ""),
    "cursor 10**30": (encode(PullReq("r", 10**30)), ""),
    "cursor -1": (encode(PullReq("r", -1)), "1,2,3"),
    "cursor -2**70": (encode(PullReq("r", -(2**70))), "1,2,3"),
    "frame 100k deep": (DEEP, "none"),
    "args 100k deep": (push_frame("d", wire(4, args="@ARGS@"), raw_args=DEEP), "none"),
    "args too deep": (
        push_frame(
            "d",
            wire(4, args="@ARGS@"),
            raw_args="[" * (MAX_ARGS_DEPTH + 1) + "]" * (MAX_ARGS_DEPTH + 1),
        ),
        "error",
    ),
    "args NaN": (push_frame("n", wire(4, args={"x": float("nan")})), "none"),
    "args Infinity": (push_frame("n", wire(4, args={"x": float("inf")})), "none"),
    "args -Infinity": (push_frame("n", wire(4, args=[float("-inf")])), "none"),
    "args 1e400": (push_frame("n", wire(4, args="@ARGS@"), raw_args="[1e400]"), "error"),
    "args surrogate value": (push_frame("s", wire(4, args={"t": SURROGATE})), "error"),
    "args surrogate key": (push_frame("s", wire(4, args={SURROGATE: 1})), "error"),
    "name surrogate": (push_frame("s", wire(4, name=SURROGATE)), "error"),
    "clientId surrogate": (push_frame("s", wire(4, clientId="c" + SURROGATE)), "error"),
    "sessionId surrogate": (push_frame("s", wire(4, sessionId=SURROGATE)), "error"),
    "later event bad": (push_frame("s", wire(4), wire(5, args=[SURROGATE])), "error"),
    "push requestId surrogate": (push_frame(SURROGATE, wire(4)), "none"),
    "pull requestId surrogate": (
        json.dumps({"_tag": "WSMessage.PullReq", "requestId": SURROGATE}),
        "none",
    ),
    "seqNum 2**63": (push_frame("b", wire(2**63, parentSeqNum=2**63 - 1)), "error"),
    "seqNum float": (push_frame("b", wire(4, seqNum=4.0)), "none"),
    "huge integer": (push_frame("b", wire(4, args="@ARGS@"), raw_args="1" * 5000), "none"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_frames_never_raise(
    name: str, server: SyncServer, http: aiohttp.ClientSession, no_errors: None
) -> None:
    frame, expected = MALFORMED[name]
    async with http.ws_connect(ws_url(server)) as ws:
        await push_ok(ws, ev(1), ev(2), ev(3))
        await ws.send_str(frame)
        got = await answers(ws)
        if expected == "none":
            assert got == []
        elif expected == "error":
            assert [f["_tag"] for f in got] == ["WSMessage.Error"], got
        else:
            want = [int(s) for s in expected.split(",") if s]
            assert [i["eventEncoded"]["seqNum"] for f in got for i in f["batch"]] == want
        # The socket still works, and the log is as it was.
        assert await pulled_seqs(ws) == [1, 2, 3]
        await push_ok(ws, ev(4))


@pytest.mark.parametrize(
    "payload",
    ["[" * 4000 + "]" * 4000, "NaN", '{"authToken":Infinity}'],
    ids=["deep", "NaN", "Infinity"],
)
async def test_a_malformed_handshake_payload_is_a_500(
    payload: str, server: SyncServer, http: aiohttp.ClientSession, no_errors: None
) -> None:
    # Sent as is: the request line must stay under aiohttp's 8190 bytes.
    url = f"http://127.0.0.1:{server.port}/livestore/websocket?storeId=s&payload={payload}"
    async with http.get(URL(url, encoded=True)) as resp:
        assert resp.status == 500
        assert (await resp.text()).startswith("Invalid search params")


# --- 5. --db on a file that is not ours ---------------------------------------------------


def _foreign_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE x (a text)")
    con.execute("INSERT INTO x VALUES ('precious')")
    con.commit()
    con.close()


def _wrong_columns(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE eventlog_7_s (seqNum integer, other text)")
    con.commit()
    con.close()


def _with_index(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute(OUR_DDL.format(table="eventlog_7_s"))
    con.execute("CREATE INDEX by_name ON eventlog_7_s (name)")
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_foreign_sqlite, "(it has table 'x')"),
        (lambda p: p.write_text("name,value\nprecious,1\n"), "(it is not an SQLite database)"),
        (_wrong_columns, "(table 'eventlog_7_s' has columns seqNum, other)"),
        (_with_index, "(it has index 'by_name')"),
    ],
    ids=["foreign-table", "not-sqlite", "wrong-columns", "foreign-index"],
)
async def test_a_file_that_is_not_ours_is_refused_untouched(
    tmp_path: Path, make: Any, reason: str
) -> None:
    path = tmp_path / "their.db"
    make(path)
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    server = SyncServer(path)
    with pytest.raises(UsageError) as caught:
        await server.start()
    assert str(caught.value) == f"{path} is not a runt event log {reason}; refusing to modify it"
    assert (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(tmp_path))) == before
    await server.stop()


@pytest.mark.parametrize("kind", ["missing", "empty", "ours"])
async def test_a_missing_empty_or_own_file_is_used(
    tmp_path: Path, kind: str, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "sync.db"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "ours":
        first = SyncServer(path)
        await first.start()
        async with http.ws_connect(ws_url(first)) as ws:
            await push_ok(ws, ev(1))
        await first.stop()
    server = SyncServer(path)
    await server.start()
    try:
        async with http.ws_connect(ws_url(server)) as ws:
            await push_ok(ws, ev(2 if kind == "ours" else 1))
    finally:
        await server.stop()


# --- the pure checks (Sans-I/O) -----------------------------------------------------------


def test_json_deeper_than_counts_containers_not_brackets_in_strings() -> None:
    nested: Any = 1
    for _ in range(MAX_ARGS_DEPTH):
        nested = [nested]
    assert not json_deeper_than(nested, MAX_ARGS_DEPTH, dumps(nested))
    assert json_deeper_than([nested], MAX_ARGS_DEPTH, dumps([nested]))
    css = {"text/html": "<style>" + "a{b:c}" * 1000 + "</style>", "rows": [[i] for i in range(500)]}
    assert not json_deeper_than(css, MAX_ARGS_DEPTH, dumps(css))
    assert json_deeper_than({"a": [{"b": []}]}, 3) and not json_deeper_than({"a": [{"b": []}]}, 4)


def test_check_push_validates_the_whole_batch_before_answering() -> None:
    good = Event("v1.X", {"t": "é"}, 4, 3, "c", "s")
    assert check_push((good, Event("v1.Y", None, 5, 4, "c", "s")), 3) == ['{"t":"é"}', None]
    for batch, message in [
        ((good,), "Invalid parent event number. Received e3 but expected e2"),
        ((Event("v1.X", [float("nan")], 3, 2, "c", "s"),), "its args are not JSON"),
        ((good, Event("v1.X", {SURROGATE: 1}, 5, 4, "c", "s")), "e5: its args are not valid"),
        ((good, Event(SURROGATE, None, 5, 4, "c", "s")), "e5: its name, clientId or sessionId"),
    ]:
        with pytest.raises(PushRejected, match=message.replace("(", r"\(")):
            check_push(batch, batch[0].parent_seq_num if "parent" not in message else 2)


def test_strict_loads_is_json_parse() -> None:
    assert strict_loads('{"a":[1.5,null]}') == {"a": [1.5, None]}
    for text in ("NaN", "[Infinity]", "-Infinity", "[" * 100_000 + "]" * 100_000):
        with pytest.raises(ValueError):
            strict_loads(text)
