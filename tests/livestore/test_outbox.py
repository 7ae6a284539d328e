"""The outbox: one writer task per socket, a bounded queue, order kept, cancellation clean."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web

from runt_action.livestore.outbox import Outbox


class GatedSend:
    """Fault injection: a send that suspends (like flow control) while ``gate`` is unset."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: str | None = None
        self.in_send = asyncio.Event()

    async def __call__(self, text: str) -> None:
        if text == self.fail_on:
            raise ConnectionResetError("peer gone")
        self.sent.append(text)  # written before the first await, as aiohttp does
        self.in_send.set()
        await self.gate.wait()


def writer_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "livestore-outbox" and not t.done()]


async def test_an_idle_outbox_sends_on_the_next_loop_step() -> None:
    send = GatedSend()
    box = Outbox(send)
    await asyncio.sleep(0)  # the writer parks on the empty queue
    assert box.offer("a")
    await asyncio.sleep(0)  # one step, no timer: the parked writer sends at once
    assert send.sent == ["a"]
    box.close()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert box.closed and not writer_tasks()


async def test_a_slow_peer_never_has_more_than_the_bound_queued() -> None:
    send = GatedSend()
    send.gate.clear()
    box = Outbox(send, maxsize=3)
    accepted = [box.offer(f"f{i}") for i in range(10)]
    await send.in_send.wait()  # f0 is being sent (stuck), so one more fits
    accepted += [box.offer(f"g{i}") for i in range(10)]
    assert box.qsize() == 3
    assert accepted.count(True) == 4  # f0 in the send, three waiting
    send.gate.set()
    box.close()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["f0", "f1", "f2", "g0"]  # in order, nothing beyond the bound


async def test_put_waits_for_room_and_keeps_order() -> None:
    send = GatedSend()
    send.gate.clear()
    box = Outbox(send, maxsize=2)

    async def produce() -> list[bool]:
        return [await box.put(f"f{i}") for i in range(6)]

    producer = asyncio.create_task(produce())
    await send.in_send.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not producer.done()  # blocked: backpressure, not an unbounded backlog
    assert box.qsize() == 2
    send.gate.set()
    assert await asyncio.wait_for(producer, 1) == [True] * 6
    box.close()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == [f"f{i}" for i in range(6)]


async def test_abort_mid_send_ends_the_writer_and_releases_blocked_producers() -> None:
    send = GatedSend()
    send.gate.clear()
    box = Outbox(send, maxsize=1)
    assert box.offer("a")
    await send.in_send.wait()  # the writer is suspended inside send
    assert box.offer("b")  # queued
    blocked = asyncio.create_task(box.put("c"))  # waits for room
    await asyncio.sleep(0)
    assert not blocked.done()
    box.abort()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert await asyncio.wait_for(blocked, 1) is False  # released, told it was not sent
    assert box.closed and box.qsize() == 0 and not writer_tasks()
    assert not box.offer("d") and not await box.put("e")
    assert send.sent == ["a"]
    # A fresh outbox (a reconnect) works: nothing of the aborted one carries over.
    send.gate.set()
    fresh = Outbox(send)
    assert fresh.offer("x")
    fresh.close()
    await asyncio.wait_for(fresh.wait_closed(), 1)
    assert send.sent == ["a", "x"]


async def test_a_failed_send_ends_the_outbox() -> None:
    send = GatedSend()
    send.fail_on = "boom"
    box = Outbox(send)
    for text in ("a", "boom", "never"):
        box.offer(text)
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["a"]
    assert box.closed and not box.offer("later")


async def test_close_sends_what_is_queued_then_accepts_nothing() -> None:
    send = GatedSend()
    send.gate.clear()
    box = Outbox(send)
    for text in ("a", "b", "c"):
        box.offer(text)
    box.close()
    assert not box.offer("after-close")
    send.gate.set()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["a", "b", "c"]


async def test_a_lazy_item_is_read_as_the_writer_drains_it_in_queue_order() -> None:
    send = GatedSend()
    produced: list[int] = []

    def chunks() -> Iterator[str]:
        for i in range(3):
            produced.append(i)
            yield f"chunk{i}"

    send.gate.clear()
    box = Outbox(send)
    box.offer("before")
    box.offer(chunks())
    box.offer("after")
    await send.in_send.wait()
    assert produced == []  # nothing framed while the writer is busy
    send.gate.set()
    box.close()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert send.sent == ["before", "chunk0", "chunk1", "chunk2", "after"]


async def test_an_aborted_outbox_closes_its_unread_lazy_items() -> None:
    send = GatedSend()
    send.gate.clear()
    finished = False

    def chunks() -> Iterator[str]:
        nonlocal finished
        try:
            yield "chunk"
        finally:
            finished = True

    box = Outbox(send)
    box.offer("a")
    gen = chunks()
    next(gen)  # started, so closing it runs its finally
    box.offer(gen)
    await send.in_send.wait()
    box.abort()
    await asyncio.wait_for(box.wait_closed(), 1)
    assert finished


def test_an_outbox_needs_room() -> None:
    async def make() -> None:
        Outbox(GatedSend(), maxsize=0)

    with pytest.raises(ValueError, match="at least one"):
        asyncio.run(make())


async def test_frames_reach_a_real_websocket_in_order() -> None:
    received: list[str] = []
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        box = Outbox(ws.send_str, maxsize=8)
        for i in range(500):
            assert await box.put(f"frame-{i}-" + "x" * 2000)  # enough to hit flow control
        box.close()
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
    port = runner.addresses[0][1]
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
