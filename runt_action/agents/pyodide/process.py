"""A child process launched without an event loop and adopted by one later.

``PyodideEngine.prestart()`` launches Deno with a plain ``subprocess.Popen`` before the caller
has a loop (so Pyodide boots while the caller imports the rest of the program); ``start()``
then wraps the pipes in asyncio streams. The exit is observed through a pidfd where Linux has
one, else by polling, and reaped here (nobody else waits for a Popen child).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO

__all__ = ["AdoptedProcess", "launch"]

_POLL_S = 0.02


def launch(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the child with three pipes, in its own session (a terminal Ctrl-C is ours)."""
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )


class AdoptedProcess:
    """The subset of asyncio.subprocess.Process the engine uses, over a Popen."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._exited = asyncio.get_running_loop().create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.Task[None] | None = None

    @classmethod
    async def adopt(cls, popen: subprocess.Popen[bytes]) -> AdoptedProcess:
        loop = asyncio.get_running_loop()
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        stdout = await _reader(loop, popen.stdout)
        stderr = await _reader(loop, popen.stderr)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, popen.stdin
        )
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        proc = cls(popen, stdin, stdout, stderr)
        proc._watch(loop)
        return proc

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        assert self.popen.returncode is not None
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux, or an old kernel: poll
            self._poller = loop.create_task(self._poll(), name="deno-exit-poll")
            return
        loop.add_reader(self._pidfd, self._on_exit)
        self._on_exit()  # it may already have exited

    def _on_exit(self) -> None:
        if self.popen.poll() is None or self._exited.done():
            return
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._exited.set_result(None)

    async def _poll(self) -> None:
        while self.popen.poll() is None:  # noqa: ASYNC110 (without a pidfd there is no event)
            await asyncio.sleep(_POLL_S)
        self._on_exit()


async def _reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes]) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=2**16, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
    return reader
