"""Raw-aiohttp checks of the wire, against the real sync-cf 0.3.1 backend and our SyncServer.

They pin the wire facts our client relies on (livestore-wire.md §2-§8) independently of
runt_action.livestore, so a harness problem and a client bug are told apart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest

pytestmark = pytest.mark.interop

TOKEN = "test-token"
PING = '{"_tag":"WSMessage.Ping","requestId":"ping"}'
PONG = '{"_tag":"WSMessage.Pong","requestId":"ping"}'


def ws_url(base: str, store_id: str, payload: Any) -> str:
    encoded = quote(json.dumps(payload, separators=(",", ":")), safe="-_.!~*'()")
    return f"{base}/websocket?" + urlencode({"storeId": store_id, "payload": encoded})


class RawSocket:
    """Just enough of the protocol to drive the server by hand."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = 0

    def request_id(self) -> str:
        self._ids += 1
        return f"raw-{self._ids}"

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def recv(self, within: float = 10.0) -> dict[str, Any]:
        msg = await self.ws.receive(within)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data: dict[str, Any] = json.loads(msg.data)
        return data

    async def pull(self, cursor: int | None = None) -> list[dict[str, Any]]:
        request_id = self.request_id()
        req: dict[str, Any] = {"_tag": "WSMessage.PullReq", "requestId": request_id}
        if cursor is not None:
            req["cursor"] = cursor
        await self.send(req)
        events: list[dict[str, Any]] = []
        while True:
            res = await self.recv()
            if res["_tag"] != "WSMessage.PullRes" or res["requestId"] != {
                "context": "pull",
                "requestId": request_id,
            }:
                continue  # a broadcast racing the pull
            events += [item["eventEncoded"] for item in res["batch"]]
            if res["remaining"] == 0:
                return events

    async def push(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Push and return the frames up to and including our own broadcast."""
        request_id = self.request_id()
        await self.send({"_tag": "WSMessage.PushReq", "requestId": request_id, "batch": batch})
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["_tag"] == "WSMessage.Error":
                return frames
            if frame["_tag"] == "WSMessage.PullRes" and frame["requestId"] == {
                "context": "push",
                "requestId": request_id,
            }:
                return frames


def encode(
    events: list[dict[str, Any]], *, head: int, client_id: str, session_id: str
) -> list[dict[str, Any]]:
    return [
        {
            "name": ev["name"],
            "args": ev["args"],
            "seqNum": head + i + 1,
            "parentSeqNum": head + i,
            "clientId": client_id,
            "sessionId": session_id,
        }
        for i, ev in enumerate(events)
    ]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(http: aiohttp.ClientSession, base: str, store_id: str) -> RawSocket:
    ws = await http.ws_connect(ws_url(base, store_id, {"authToken": TOKEN}), max_msg_size=0)
    return RawSocket(ws)


async def test_empty_pull_and_byte_exact_ping(
    sync_url: str, store_id: str, http: aiohttp.ClientSession
) -> None:
    sock = await connect(http, sync_url, store_id)
    assert await sock.pull() == []
    await sock.ws.send_str(PING)
    msg = await sock.ws.receive(10)
    assert msg.data == PONG
    await sock.ws.close()


async def test_push_ack_broadcast_and_cursor_pull(
    sync_url: str, store_id: str, http: aiohttp.ClientSession, cell_events: Any
) -> None:
    pusher = await connect(http, sync_url, store_id)
    watcher = await connect(http, sync_url, store_id)
    assert await pusher.pull() == []
    assert await watcher.pull() == []

    batch = encode(cell_events(1, actor="py", tag="raw"), head=0, client_id="py", session_id="s")
    frames = await pusher.push(batch)
    assert [f["_tag"] for f in frames] == ["WSMessage.PushAck", "WSMessage.PullRes"]
    broadcast = await watcher.recv()
    assert broadcast["requestId"]["context"] == "push"
    assert [item["eventEncoded"] for item in broadcast["batch"]] == batch
    assert all(item["metadata"]["_tag"] == "Some" for item in broadcast["batch"])

    stale = await pusher.push(encode(batch[:1], head=0, client_id="py", session_id="s"))
    assert stale[-1]["_tag"] == "WSMessage.Error"
    assert stale[-1]["message"] == "Invalid parent event number. Received e0 but expected e4"

    assert await watcher.pull(cursor=2) == batch[2:]
    await pusher.ws.close()
    await watcher.ws.close()


async def test_wrong_token_is_http_400(
    sync_url: str, store_id: str, http: aiohttp.ClientSession
) -> None:
    url = ws_url(sync_url, store_id, {"authToken": "wrong"})
    with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
        await http.ws_connect(url)
    assert excinfo.value.status == 400
    async with http.get(url.replace("ws://", "http://"), headers={"Upgrade": "websocket"}) as resp:
        assert resp.status == 400
        assert "Invalid auth token" in await resp.text()


async def test_chunked_pull_is_reassembled_by_js(
    sync_url: str, store_id: str, http: aiohttp.ClientSession, js_client: Any, cell_events: Any
) -> None:
    """256 events cross the 100-event pull chunk twice; the JS client must get them all."""
    sock = await connect(http, sync_url, store_id)
    assert await sock.pull() == []
    batch = encode(cell_events(64, actor="py", tag="big"), head=0, client_id="py", session_id="s")
    await sock.push(batch)

    request_id = sock.request_id()
    await sock.send({"_tag": "WSMessage.PullReq", "requestId": request_id})
    remaining = [(await sock.recv())["remaining"] for _ in range(3)]
    assert remaining == [156, 56, 0]
    await sock.ws.close()

    client = await js_client(sync_url, store_id, wait_cells=64, wait_outputs=64)
    tables = await client.next_message("tables")
    assert len(tables["cells"]) == 64
    assert sorted(o["data"] for o in tables["outputs"]) == sorted(f"{i}\n" for i in range(64))
    assert await client.finish() == 0
