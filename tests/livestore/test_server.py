from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from livestore_helpers import captured_lines, ws_url

from runt_action.livestore import Event, SyncServer, token_validator
from runt_action.livestore.protocol import (
    PING_TEXT,
    PONG_TEXT,
    PullReq,
    PullRes,
    PushAck,
    PushReq,
    dumps,
    encode,
)

BAD_TOKEN_BODY = (
    'LiveStore.UnexpectedError: { "cause": Error: Invalid auth token, "note": undefined, '
    '"payload": undefined }'
)


def ev(seq: int, client: str = "c") -> Event:
    return Event(
        "v1.NoteAdded", {"id": f"n{seq}", "text": "t", "author": "a"}, seq, seq - 1, client, "s"
    )


async def recv_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    result: dict[str, Any] = json.loads(msg.data)
    return result


async def push(ws: aiohttp.ClientWebSocketResponse, rid: str, *events: Event) -> None:
    await ws.send_str(encode(PushReq(rid, tuple(events))))


def shape(value: Any) -> Any:
    """Key order and value types, recursively: what 'same frame shape' means."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


# --- handshake --------------------------------------------------------------------------


async def test_handshake_answers_like_sync_cf(http: aiohttp.ClientSession) -> None:
    server = SyncServer(validate_payload=token_validator("test-token"))
    await server.start()
    try:
        bodies = {d["status"]: d["body"] for d in captured_lines() if "status" in d}
        base = server.url.replace("ws://", "http://") + "/websocket"
        missing = "?payload=%257B%2522authToken%2522%253A%2522test-token%2522%257D"
        async with http.get(base + missing) as resp:
            assert resp.status == 500
            text = await resp.text()
            assert text.startswith("Invalid search params: { readonly storeId: string;")
            assert text.endswith('└─ ["storeId"]\n   └─ is missing')
        async with http.get(base + "?storeId=s&payload=notjson") as resp:
            assert resp.status == 500
            assert await resp.text() == bodies[500].replace(
                "Unexpected token 'o', \"notjson\" is not valid JSON",
                'Unexpected token in JSON, "notjson" is not valid JSON',
            )
        for query in (
            "?storeId=s&payload=%257B%2522authToken%2522%253A%2522nope%2522%257D",
            "?storeId=s",
        ):
            async with http.get(base + query) as resp:
                assert resp.status == 400
                assert await resp.text() == BAD_TOKEN_BODY == bodies[400]
        good = "?storeId=s&payload=%257B%2522authToken%2522%253A%2522test-token%2522%257D"
        async with http.get(base + good) as resp:  # valid, but no Upgrade header
            assert resp.status == 426
            assert await resp.text() == "Durable Object expected Upgrade: websocket"
        async with http.ws_connect(server.url + "/websocket" + good) as ws:
            await ws.send_str(PING_TEXT)
            assert (await ws.receive(timeout=5)).data == PONG_TEXT
        # anode accepts any path under /livestore.
        async with http.ws_connect(server.url + "/anything" + good) as ws:
            await ws.send_str(PING_TEXT)
            assert (await ws.receive(timeout=5)).data == PONG_TEXT
        async with http.get(base.replace("/livestore/websocket", "/other")) as resp:
            assert resp.status == 404
    finally:
        await server.stop()


async def test_async_payload_validator_is_awaited(http: aiohttp.ClientSession) -> None:
    async def validate(payload: Any) -> None:
        await asyncio.sleep(0)
        raise ValueError("nope")

    server = SyncServer(validate_payload=validate)
    await server.start()
    try:
        async with http.get(ws_url(server).replace("ws://", "http://")) as resp:
            assert resp.status == 400
            assert '"cause": Error: nope,' in await resp.text()
    finally:
        await server.stop()


# --- push / pull ------------------------------------------------------------------------


async def test_ack_then_broadcast_to_every_socket_including_the_pusher(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server)) as a, http.ws_connect(ws_url(server)) as b:
        await a.send_str(PING_TEXT)  # make sure both sockets are registered
        await b.send_str(PING_TEXT)
        assert (await a.receive(timeout=5)).data == PONG_TEXT
        assert (await b.receive(timeout=5)).data == PONG_TEXT
        await push(a, "p1", ev(1))
        assert await recv_json(a) == {"_tag": "WSMessage.PushAck", "requestId": "p1"}
        mine, theirs = await recv_json(a), await recv_json(b)
        assert mine == theirs
        assert mine["requestId"] == {"context": "push", "requestId": "p1"}
        assert mine["remaining"] == 0
        assert mine["batch"][0]["eventEncoded"] == ev(1).to_wire()
        assert mine["batch"][0]["metadata"]["_tag"] == "Some"
        captured = next(
            json.loads(d["data"])
            for d in captured_lines()
            if d.get("dir") == "s2c" and '"context":"push"' in d.get("data", "")
        )
        assert shape(mine) == shape(captured)
        await push(a, "p2")
        assert await recv_json(a) == {"_tag": "WSMessage.PushAck", "requestId": "p2"}


async def test_parent_check_error_string(server: SyncServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        await push(ws, "p1", *(ev(i) for i in range(1, 6)))
        await recv_json(ws)
        await recv_json(ws)
        await push(ws, "stale", ev(5))
        assert await recv_json(ws) == {
            "_tag": "WSMessage.Error",
            "requestId": "stale",
            "message": "Invalid parent event number. Received e4 but expected e5",
        }
        await push(ws, "ahead", ev(10))
        assert (await recv_json(ws))["message"] == (
            "Invalid parent event number. Received e9 but expected e5"
        )


async def test_pull_is_chunked_by_100_with_remaining(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        await ws.send_str(encode(PullReq("empty")))
        assert await recv_json(ws) == {
            "_tag": "WSMessage.PullRes",
            "batch": [],
            "requestId": {"context": "pull", "requestId": "empty"},
            "remaining": 0,
        }
        await push(ws, "bulk", *(ev(i) for i in range(1, 251)))
        await recv_json(ws)
        await recv_json(ws)
        await ws.send_str(encode(PullReq("all")))
        frames = [await recv_json(ws) for _ in range(3)]
        assert [f["remaining"] for f in frames] == [150, 50, 0]
        assert [len(f["batch"]) for f in frames] == [100, 100, 50]
        seqs = [item["eventEncoded"]["seqNum"] for f in frames for item in f["batch"]]
        assert seqs == list(range(1, 251))
        await ws.send_str(encode(PullReq("cursor", 245)))
        tail = await recv_json(ws)
        assert [i["eventEncoded"]["seqNum"] for i in tail["batch"]] == [246, 247, 248, 249, 250]
        await ws.send_str(encode(PullReq("beyond", 999)))
        assert (await recv_json(ws))["batch"] == []


async def test_ping_exactness_and_undecodable_frames(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server)) as ws:
        await ws.send_str(PING_TEXT)
        assert (await ws.receive(timeout=5)).data == PONG_TEXT
        await ws.send_str('{"_tag": "WSMessage.Ping", "requestId": "ping"}')
        assert (await ws.receive(timeout=5)).data == (
            '{"_tag":"WSMessage.Error","requestId":"ping",'
            '"message":"This should never happen: undefined"}'
        )
        for junk in (
            '{"_tag":"WSMessage.Nope","requestId":"x"}',
            "not json at all",
            '{"_tag":"WSMessage.PullReq","requestId":"r","cursor":null}',
        ):
            await ws.send_str(junk)
        await ws.send_str(encode(PullReq("still-alive?")))
        # The first answer after the junk is the pull: the junk got no reply at all.
        assert (await recv_json(ws))["requestId"] == {
            "context": "pull",
            "requestId": "still-alive?",
        }


async def test_frames_over_one_mib_close_the_socket_with_1009(
    server: SyncServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(server), max_msg_size=0) as ws:
        big = Event("v1.Big", {"text": "x" * 1_100_000}, 1, 0, "c", "s")
        frame = encode(PushReq("big", (big,)))
        await ws.send_str(frame)
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1009
        assert msg.extra == f"Message is too large: {len(frame)} > 1048576"
    async with http.ws_connect(ws_url(server)) as ws:
        await ws.send_str(encode(PullReq("after")))
        assert (await recv_json(ws))["batch"] == []  # nothing was stored


async def test_close_code_is_echoed(server: SyncServer, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(ws_url(server))
    await ws.close(code=4000)
    assert ws.close_code == 4000


async def test_admin_messages(http: aiohttp.ClientSession) -> None:
    server = SyncServer(admin_secret="admin-secret-for-tests")
    await server.start()
    try:
        async with http.ws_connect(ws_url(server)) as ws:
            await ws.send_str(
                '{"_tag":"WSMessage.AdminInfoReq","requestId":"a",'
                '"adminSecret":"admin-secret-for-tests"}'
            )
            info = await recv_json(ws)
            assert list(info) == ["_tag", "requestId", "info"]
            assert len(info["info"]["durableObjectId"]) == 64
            await ws.send_str(
                '{"_tag":"WSMessage.AdminInfoReq","requestId":"b","adminSecret":"wrong"}'
            )
            assert await recv_json(ws) == {
                "_tag": "WSMessage.Error",
                "requestId": "b",
                "message": "Invalid admin secret",
            }
            await push(ws, "p", ev(1))
            await recv_json(ws)
            await recv_json(ws)
            await ws.send_str(
                '{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r",'
                '"adminSecret":"admin-secret-for-tests"}'
            )
            assert await recv_json(ws) == {"_tag": "WSMessage.AdminResetRoomRes", "requestId": "r"}
            await push(ws, "again", ev(1))  # the room starts over at e0
            assert (await recv_json(ws))["_tag"] == "WSMessage.PushAck"
    finally:
        await server.stop()


async def test_events_survive_a_restart(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    db = tmp_path / "sync.db"
    server = SyncServer(db)
    await server.start()
    async with http.ws_connect(ws_url(server, "my-store")) as ws:
        await push(ws, "p", ev(1), ev(2))
        await recv_json(ws)
        await recv_json(ws)
    await server.stop()
    tables = {
        r[0]
        for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert "eventlog_7_my_store" in tables

    again = SyncServer(db)
    await again.start()
    try:
        async with http.ws_connect(ws_url(again, "my-store")) as ws:
            await ws.send_str(encode(PullReq("r")))
            pulled = await recv_json(ws)
            assert [i["eventEncoded"] for i in pulled["batch"]] == [
                ev(1).to_wire(),
                ev(2).to_wire(),
            ]
            assert all(i["metadata"]["value"]["createdAt"].endswith("Z") for i in pulled["batch"])
            await push(ws, "stale", ev(1))
            assert (await recv_json(ws))["message"].endswith("but expected e2")
            await push(ws, "next", ev(3))
            assert (await recv_json(ws))["_tag"] == "WSMessage.PushAck"
    finally:
        await again.stop()


async def test_pull_from_the_log_is_byte_identical_to_the_broadcast(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # The server keeps each event's args text once and serves pulls straight from SQLite.
    odd = Event("v1.Odd", {"t": 'é\u2028"\\', "n": [1.5, -2, None, True]}, 1, 0, "c", "s")
    bare = Event("v1.Bare", None, 2, 1, "c", "s")
    pushed: list[tuple[str, tuple[Event, ...]]] = []
    db = tmp_path / "sync.db"
    server = SyncServer(db, on_push=lambda store, events: pushed.append((store, tuple(events))))
    await server.start()
    try:
        async with http.ws_connect(ws_url(server, "bytes")) as ws:
            await push(ws, "p", odd, bare)
            assert (await ws.receive(timeout=5)).data == encode(PushAck("p"))
            broadcast = (await ws.receive(timeout=5)).data
            await ws.send_str(encode(PullReq("r")))
            pulled = (await ws.receive(timeout=5)).data
    finally:
        await server.stop()
    created_at = json.loads(broadcast)["batch"][0]["metadata"]["value"]["createdAt"]
    stamped = (replace(odd, created_at=created_at), replace(bare, created_at=created_at))
    assert broadcast == encode(PullRes(stamped, "p", "push", 0))
    assert pulled == encode(PullRes(stamped, "r", "pull", 0))
    assert pushed == [("bytes", stamped)]
    rows = sqlite3.connect(db).execute("SELECT args FROM eventlog_7_bytes ORDER BY seqNum")
    assert [r[0] for r in rows] == [dumps(odd.args), None]
