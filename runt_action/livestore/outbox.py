"""One writer task per websocket, fed by a bounded queue.

Frames leave in queue order through aiohttp's documented ``await ws.send_str(...)``; an idle
writer is parked on the queue, so a frame goes out on the next loop step (no sleeps, no
polling). The bound keeps a slow peer from growing an unbounded backlog:

- producers that can wait ``await put(...)`` (backpressure);
- producers on the protocol's synchronous paths (a room broadcasting in order, the client's
  state machine) ``offer(...)`` and treat ``False`` from a full queue as "this peer is too
  slow": they drop the socket, and the peer re-pulls from its cursor, so nothing is lost
  (the server's log is the truth; a client's unconfirmed events wait in its SyncMachine);
- one queue item may be an iterable of frames (a pull's chunks), read as the writer drains
  it, so a long log is never framed in memory all at once.

The writer owns no flag that outlives it: cancelled (:meth:`abort`) or failed, the outbox is
closed for good, blocked producers are released, and a reconnect makes a fresh outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

import aiohttp

__all__ = ["DEFAULT_MAXSIZE", "Frames", "Outbox"]

log = logging.getLogger(__name__)

# Queue items a socket may have waiting. A client never has more than a few (one push and one
# pull in flight, pings); a server peer queues broadcasts of other clients' pushes, each at
# most one 1 MiB frame, so this also caps a slow peer's backlog in bytes (~256 MiB worst case,
# a few hundred KiB in practice).
DEFAULT_MAXSIZE = 256

# One frame, or frames produced lazily while the writer drains (sent back to back, in order).
Frames = str | Iterable[str]

# What a dead socket raises from send_str (aiohttp's reset error is both a ConnectionError
# and a ClientError; RuntimeError when the response was never prepared or is closing).
_SEND_ERRORS = (ConnectionError, RuntimeError, aiohttp.ClientError)


class Outbox:
    """Frames for one socket, sent in order by one writer task; ``close`` ends it gracefully."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        name: str = "livestore-outbox",
    ) -> None:
        if maxsize < 1:
            raise ValueError("an outbox needs room for at least one item")
        self._send = send
        self.maxsize = maxsize
        # None is the close marker, put only into an empty queue (so it always fits).
        self._queue: asyncio.Queue[Frames | None] = asyncio.Queue(maxsize)
        self._closing = False  # close() or abort() was called: nothing more is accepted
        self._closed = False  # the writer has ended
        self._writer = asyncio.get_running_loop().create_task(self._write(), name=name)

    # --- producers ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Nothing more is accepted (closing, aborted, or the socket failed)."""
        return self._closing or self._closed

    def qsize(self) -> int:
        return self._queue.qsize()

    def offer(self, item: Frames) -> bool:
        """Queue without waiting; False when closed or full (the caller decides what that means)."""
        if self.closed:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    async def put(self, item: Frames) -> bool:
        """Queue, waiting for room (backpressure); False when the outbox is or becomes closed."""
        if self.closed:
            return False
        await self._queue.put(item)
        if self._closed:  # the writer ended while we waited: nobody will send it
            self._discard()
            return False
        return True

    def close(self) -> None:
        """Send what is queued, then end (the socket itself is the caller's to close)."""
        if self.closed:
            return
        self._closing = True
        if self._queue.empty():
            self._queue.put_nowait(None)  # wake a parked writer; the queue has room
        # Otherwise the writer drains the queue and ends when it sees it empty and closing.

    def abort(self) -> None:
        """End now: cancel the writer (even mid-send) and drop what is queued."""
        self._closing = True
        self._writer.cancel()

    async def wait_closed(self) -> None:
        """Until the writer has ended (closed and drained, aborted, or the socket failed)."""
        await asyncio.wait({self._writer})

    # --- the writer --------------------------------------------------------------------

    async def _write(self) -> None:
        queue, send = self._queue, self._send
        try:
            while not (self._closing and queue.empty()):
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, str):
                    await send(item)
                else:
                    for frame in item:
                        await send(frame)
        except _SEND_ERRORS as exc:
            log.debug("websocket send failed, the outbox ends: %r", exc)
        except Exception:
            # A bug (a frame source that raised): the socket is unusable, the peer re-syncs.
            log.warning("the websocket writer failed; dropping the socket", exc_info=True)
        finally:
            self._closing = self._closed = True
            self._discard()

    def _discard(self) -> None:
        """Drop queued items; each get wakes a producer blocked in ``put`` (it sees closed)."""
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                item = self._queue.get_nowait()
                close = getattr(item, "close", None)  # a generator of frames: release it now
                if callable(close):
                    close()
