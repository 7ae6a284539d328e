"""A loopback TCP proxy that cuts every connection every 0.5-2 s and delays what it forwards.

It is ours (asyncio streams, no dependency) so a fault is reproducible: a seeded
``random.Random`` picks every cut interval and every delay. It knows nothing of
websockets; it forwards bytes in order, sleeping a little before each chunk, and aborts both
sides of a connection when its timer fires, which a client sees as a dead socket mid-frame.

It is bounded: after ``max_cuts`` cuts, or ``cut_for`` seconds, it forwards without
cutting, so a run that reconnects correctly always finishes; and ``async with`` stops it.

``hold()`` keeps what clients send from reaching the server until ``release()`` (bytes kept
in order): nothing a client commits meanwhile can be confirmed, so a test can tell without
timing what a co-located writer saw before confirmation; ``FaultProxy.gate(port)`` does
only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["CutStats", "FaultProxy"]


@dataclass
class CutStats:
    """What the proxy did: connections seen, connections cut, chunks delayed."""

    connections: int = 0
    cuts: int = 0
    delayed_chunks: int = 0
    bytes_forwarded: int = 0
    cut_times: list[float] = field(default_factory=list)


class FaultProxy:
    """``127.0.0.1:<port>`` -> ``127.0.0.1:<target_port>``, with cuts and delays."""

    def __init__(
        self,
        target_port: int,
        *,
        seed: int = 10,
        cut_every: tuple[float, float] = (0.5, 2.0),
        delay: tuple[float, float] = (0.0, 0.02),
        max_cuts: int = 40,
        cut_for: float = 60.0,
    ) -> None:
        self.target_port = target_port
        self.stats = CutStats()
        self._rng = random.Random(seed)
        self._cut_every = cut_every
        self._delay = delay
        self._max_cuts = max_cuts
        self._cut_for = cut_for
        self._started = 0.0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._upstream_open = asyncio.Event()
        self._upstream_open.set()
        self.port = 0

    @classmethod
    def gate(cls, target_port: int) -> FaultProxy:
        """No cuts, no delays: a forwarder whose client-to-server side can be held."""
        return cls(target_port, max_cuts=0, delay=(0.0, 0.0))

    def url(self, target_url: str) -> str:
        """``target_url`` (``ws://127.0.0.1:<target_port>/...``) through this proxy."""
        return target_url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    def hold(self) -> None:
        """Keep what clients send until :meth:`release`."""
        self._upstream_open.clear()

    def release(self) -> None:
        self._upstream_open.set()

    @property
    def cutting(self) -> bool:
        """Still injecting cuts (the bound not reached yet)."""
        return self.stats.cuts < self._max_cuts and time.monotonic() - self._started < self._cut_for

    async def start(self) -> None:
        self._started = time.monotonic()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        # Each connection draws its own schedule from the shared seeded generator.
        life = self._rng.uniform(*self._cut_every)
        seed = self._rng.random()
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, random.Random(seed), upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, random.Random(seed + 1))),
        ]
        cut = False
        try:
            done, _ = await asyncio.wait(
                pumps, timeout=life if self.cutting else None, return_when=asyncio.FIRST_COMPLETED
            )
            if not done and self.cutting:
                cut = True
            elif not done:  # the bound was reached while we waited: just forward
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(BaseException):
                    await pump
            if cut:
                self.stats.cuts += 1
                self.stats.cut_times.append(time.monotonic() - self._started)
                writer.transport.abort()
                up_writer.transport.abort()
            else:
                for w in (writer, up_writer):
                    with contextlib.suppress(Exception):
                        w.close()

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        rng: random.Random,
        *,
        upstream: bool = False,
    ) -> None:
        """Forward bytes in order, sleeping a seeded random delay before each chunk (and,
        towards the server, while held)."""
        while True:
            chunk = await src.read(65536)
            if not chunk:
                return
            if upstream:
                await self._upstream_open.wait()
            pause = rng.uniform(*self._delay)
            if pause > 0:
                self.stats.delayed_chunks += 1
                await asyncio.sleep(pause)
            dst.write(chunk)
            await dst.drain()
            self.stats.bytes_forwarded += len(chunk)
