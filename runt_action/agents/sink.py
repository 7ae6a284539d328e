"""Turns what an engine reports for one execution into runt output events.

Kept free of LiveStore: it only calls ``emit(name, args)``, so the agent core decides how events
are committed and tests can collect them in a list. Stream text is coalesced: a burst of small
writes becomes one ``v1.TerminalOutputAdded`` per stream switch, per ~50 ms or per 64 KiB,
and nothing is ever held past :meth:`EventSink.close` (the end of the cell).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["FLUSH_BYTES", "FLUSH_DELAY_S", "EventSink", "representations"]

FLUSH_DELAY_S = 0.05
FLUSH_BYTES = 64 * 1024

Emit = Callable[[str, dict[str, Any]], object]


def _new_output_id() -> str:
    try:
        from runt_action.schema.ids import new_output_id
    except ImportError:  # pragma: no cover - schema/ids.py is written in parallel
        return uuid.uuid4().hex
    return str(new_output_id())


def representations(
    data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """A Jupyter MIME bundle as runt ``Record<mime, Media>`` (inline), per-mime metadata kept."""
    reps: dict[str, dict[str, Any]] = {}
    for mime, value in data.items():
        rep: dict[str, Any] = {"type": "inline", "data": value}
        meta = (metadata or {}).get(mime)
        if isinstance(meta, dict) and meta:
            rep["metadata"] = meta
        reps[mime] = rep
    if "text/plain" not in reps and reps:
        reps["text/plain"] = {"type": "inline", "data": f"<{next(iter(reps))} output>"}
    return reps


class EventSink:
    """An engine's OutputSink for one execution of one cell."""

    def __init__(
        self,
        emit: Emit,
        *,
        cell_id: str,
        execution_count: int | None,
        cleared_by: str,
        flush_delay: float = FLUSH_DELAY_S,
        flush_bytes: int = FLUSH_BYTES,
    ) -> None:
        self._emit = emit
        self._cell_id = cell_id
        self._execution_count = execution_count
        self._cleared_by = cleared_by
        self._flush_delay = flush_delay
        self._flush_bytes = flush_bytes
        self._position = 0  # per execution; back to 0 after a non-wait clear (runt-schema §2.4)
        self._buf_name: str | None = None
        self._buf: list[str] = []
        self._buf_len = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.last_error: tuple[str, str] | None = None  # (ename, evalue) of sink.error

    # -- OutputSink --------------------------------------------------------------------------

    def stream(self, name: str, text: str) -> None:
        if self._closed or not text:
            return
        name = "stderr" if name == "stderr" else "stdout"
        if self._buf_name is not None and self._buf_name != name:
            self.flush()
        self._buf_name = name
        self._buf.append(text)
        self._buf_len += len(text)
        if self._buf_len >= self._flush_bytes:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_delay, self.flush)

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        if self._closed:
            return
        self.flush()
        reps = representations(data, metadata)
        if update and display_id:
            self._emit(
                "v1.MultimediaDisplayOutputUpdated",
                {"displayId": display_id, "representations": reps},
            )
            return
        args: dict[str, Any] = {
            "id": _new_output_id(),
            "cellId": self._cell_id,
            "position": self._next_position(),
            "representations": reps,
        }
        if display_id:
            args["displayId"] = display_id
        self._emit("v1.MultimediaDisplayOutputAdded", args)

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        if self._closed:
            return
        self.flush()
        self._emit(
            "v1.MultimediaResultOutputAdded",
            {
                "id": _new_output_id(),
                "cellId": self._cell_id,
                "position": self._next_position(),
                "representations": representations(data, metadata),
                "executionCount": self._execution_count or 0,
            },
        )

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        if self._closed:
            return
        self.flush()
        self.last_error = (ename, evalue)
        self._emit(
            "v1.ErrorOutputAdded",
            {
                "id": _new_output_id(),
                "cellId": self._cell_id,
                "position": self._next_position(),
                "content": {
                    "type": "inline",
                    "data": {"ename": ename, "evalue": evalue, "traceback": list(traceback)},
                },
            },
        )

    def clear(self, wait: bool = False) -> None:
        if self._closed:
            return
        if wait:
            self.flush()
        else:
            self._drop_buffer()  # text written before a clear would be deleted at once anyway
            self._position = 0
        self._emit(
            "v1.CellOutputsCleared",
            {"cellId": self._cell_id, "wait": wait, "clearedBy": self._cleared_by},
        )

    # -- agent side --------------------------------------------------------------------------

    def flush(self) -> None:
        """Emit buffered stream text now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buf or self._buf_name is None:
            return
        text = "".join(self._buf)
        name = self._buf_name
        self._buf, self._buf_len, self._buf_name = [], 0, None
        self._emit(
            "v1.TerminalOutputAdded",
            {
                "id": _new_output_id(),
                "cellId": self._cell_id,
                "position": self._next_position(),
                "content": {"type": "inline", "data": text},
                "streamName": name,
            },
        )

    def retarget(self, emit: Emit) -> None:
        """Send later events to ``emit`` (the agent holds the first ones back briefly)."""
        self._emit = emit

    def close(self) -> None:
        """The cell ended: flush, then ignore late calls from the engine."""
        self.flush()
        self._closed = True

    def _drop_buffer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buf, self._buf_len, self._buf_name = [], 0, None

    def _next_position(self) -> int:
        pos = self._position
        self._position += 1
        return pos
