"""The outbox writes at once when idle and keeps order when a send has to wait."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from runt_action.livestore.outbox import Outbox


class GatedSend:
    """A send that suspends (like flow control) while ``gate`` is unset."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: str | None = None

    async def __call__(self, text: str) -> None:
        if text == self.fail_on:
            raise ConnectionResetError("peer gone")
        self.sent.append(text)  # written before the first await, as aiohttp does
        if not self.gate.is_set():
            await self.gate.wait()


async def test_an_idle_outbox_sends_synchronously() -> None:
    send = GatedSend()
    box = Outbox(send)
    box.put_nowait("a")
    box.put_nowait("b")
    assert send.sent == ["a", "b"]  # no loop step needed
    box.put_nowait(None)
    await asyncio.wait_for(box.wait_closed(), 1)


async def test_a_suspended_send_keeps_later_frames_in_order() -> None:
    send = GatedSend()
    box = Outbox(send)
    send.gate.clear()
    box.put_nowait("a")  # written, then waits for the gate
    box.put_nowait("b")
    box.put_nowait("c")
    box.put_nowait(None)
    box.put_nowait("after-close")
    await asyncio.sleep(0.01)
    assert send.sent == ["a"]
    send.gate.set()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["a", "b", "c"]


async def test_a_failed_send_ends_the_outbox() -> None:
    send = GatedSend()
    send.fail_on = "boom"
    box = Outbox(send)
    box.put_nowait("a")
    box.put_nowait("boom")
    box.put_nowait("never")
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["a"]


async def test_frames_reach_a_real_websocket_in_order() -> None:
    received: list[str] = []
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        box = Outbox(ws.send_str)
        for i in range(500):
            box.put_nowait(f"frame-{i}-" + "x" * 2000)  # enough to hit flow control sometimes
        box.put_nowait(None)
        await box.wait_closed()
        await done.wait()
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
        ):
            while len(received) < 500:
                msg = await asyncio.wait_for(ws.receive(), 5)
                assert msg.type is aiohttp.WSMsgType.TEXT
                received.append(msg.data.split("-")[1])
            done.set()
    finally:
        await runner.cleanup()
    assert received == [str(i) for i in range(500)]
