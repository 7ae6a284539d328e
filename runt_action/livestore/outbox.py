"""An ordered websocket outbox that writes at once when the socket is idle.

A queue drained by a writer task costs one event-loop step per frame, and every sync hop
(client → server → client) pays it twice. An uncompressed aiohttp ``send_str`` writes to the
transport before its first ``await`` and only suspends for flow control, so the frame is sent
synchronously here by stepping the coroutine by hand; only when it does suspend (the peer is
slow) does a task finish it, and later frames wait behind it in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import aiohttp

__all__ = ["Outbox"]

# What a dead socket raises from send_str (aiohttp's reset error is both a ConnectionError
# and a ClientError; RuntimeError when the response was never prepared or is closing).
_SEND_ERRORS = (ConnectionError, RuntimeError, aiohttp.ClientError)


class Outbox:
    """Frames for one socket, sent in order; ``None`` ends it after what is queued."""

    def __init__(self, send: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        self._send = send
        self._backlog: deque[str] = deque()
        self._busy = False  # a send suspended (flow control); the backlog waits for it
        self._closed = False  # None was put: nothing more is accepted
        self._done = asyncio.get_running_loop().create_future()  # set when closed and flushed

    def put_nowait(self, text: str | None) -> None:
        if self._done.done():
            return
        if text is None:
            self._closed = True
            if not self._busy:
                self._done.set_result(None)
            return
        if self._closed:
            return
        if self._busy:
            self._backlog.append(text)
            return
        self._start(text)

    async def wait_closed(self) -> None:
        """Until ``None`` was put and everything before it sent, or the socket failed."""
        await asyncio.shield(self._done)

    # --- internals -------------------------------------------------------------------

    def _start(self, text: str) -> None:
        coro = self._send(text)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except _SEND_ERRORS:
            self._dead()
            return
        self._busy = True
        task = asyncio.ensure_future(self._finish(coro, yielded))
        task.add_done_callback(_retrieve)

    async def _finish(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        """Drive the suspended send to its end (as a Task would), then the backlog."""
        try:
            await _resume(coro, yielded)
            while self._backlog and not self._done.done():
                await self._send(self._backlog.popleft())
        except _SEND_ERRORS:
            self._dead()
            return
        finally:
            coro.close()
        self._busy = False
        if self._closed and not self._done.done():
            self._done.set_result(None)

    def _dead(self) -> None:
        self._backlog.clear()
        self._closed = True
        if not self._done.done():
            self._done.set_result(None)


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Continue a coroutine that yielded ``yielded`` (an asyncio future) on its first step."""
    while True:
        try:
            await _Yield(yielded)
        except BaseException as exc:  # cancelled: hand it to the coroutine, like a Task
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            yielded = coro.send(None)
        except StopIteration:
            return


class _Yield:
    """Yield an already-yielded asyncio future once more, from this task."""

    __slots__ = ("_future",)

    def __init__(self, future: Any) -> None:
        self._future = future

    def __await__(self) -> Generator[Any, None, None]:
        fut = self._future
        if fut is None:  # a bare ``yield`` (asyncio.sleep(0)): one loop step
            yield None
        elif not fut.done():  # an asyncio future, still blocking (it was never handed over)
            yield fut


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
