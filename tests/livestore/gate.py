"""A loopback TCP proxy whose client-to-server direction can be held (fault injection).

While held, nothing a client sends reaches the server, so nothing it commits can be
confirmed: a test can then tell, without timing, what a co-located writer saw before
confirmation. Bytes are kept in order and forwarded on release. Bound to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

__all__ = ["GateProxy"]


class GateProxy:
    """``127.0.0.1:<port>`` -> ``127.0.0.1:<target_port>``; ``hold()`` / ``release()``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, target_url: str) -> str:
        """``target_url`` (the server's, ``ws://127.0.0.1:<target>/livestore``) via the gate."""
        return target_url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def __aenter__(self) -> GateProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Stopped by the proxy's exit: end quietly (asyncio logs a cancelled handler task).
        with contextlib.suppress(asyncio.CancelledError):
            await self._forward(reader, writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, gated=True)),
            asyncio.create_task(self._pump(up_reader, writer, gated=False)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(BaseException):
                    await pump
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, gated: bool
    ) -> None:
        while data := await src.read(65536):
            if gated:
                await self._open.wait()
            dst.write(data)
            await dst.drain()
