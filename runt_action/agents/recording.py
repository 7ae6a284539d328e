"""An OutputSink that just records what an engine reports, in order.

Drives an engine without LiveStore: the engine tests use it, and it is the quickest way to see
what an engine emits for a piece of code while debugging one.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["RecordingSink"]


class RecordingSink:
    """Calls are kept as ``(kind, value)``; ``wake_on`` sets ``woken`` once stdout contains it."""

    def __init__(self, wake_on: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._wake_on = wake_on
        self.woken = asyncio.Event()
        self.changed = asyncio.Event()

    def stream(self, name: str, text: str) -> None:
        self.calls.append(("stream", (name, text)))
        self.changed.set()
        if self._wake_on is not None and self._wake_on in self.text(name):
            self.woken.set()

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        self.calls.append(("update" if update else "display", (data, display_id)))

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.calls.append(("result", data))

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.calls.append(("error", (ename, evalue, traceback)))

    def clear(self, wait: bool = False) -> None:
        self.calls.append(("clear", wait))

    async def wait_text(self, text: str) -> None:
        """Until stdout is exactly ``text`` (woken by each stream call, no polling); the
        caller bounds it with ``asyncio.timeout``."""
        while self.text() != text:
            self.changed.clear()
            await self.changed.wait()

    def text(self, name: str = "stdout") -> str:
        return "".join(v[1] for k, v in self.calls if k == "stream" and v[0] == name)

    def kinds(self) -> list[str]:
        """The non-stream calls, in order."""
        return [k for k, _ in self.calls if k != "stream"]

    def of(self, kind: str) -> list[Any]:
        return [v for k, v in self.calls if k == kind]
