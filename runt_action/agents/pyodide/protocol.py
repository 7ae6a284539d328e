"""The bridge's JSON-lines protocol, without I/O: encode commands, split and route events.

Commands (to the bridge's stdin): init, exec, interrupt, shutdown.
Events (from its stdout): ready, fatal, and per cell stream / display / result / error /
clear, closed by done{status, execution_count}.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink
from runt_action.agents.spill import SPILL_THRESHOLD_BYTES, loads_spilling, read_back_outside

__all__ = ["LineSplitter", "Mount", "deliver", "encode", "outcome_of"]


@dataclass(frozen=True, slots=True)
class Mount:
    host: str
    target: str
    readonly: bool = False


def encode(op: str, **fields: Any) -> bytes:
    return (json.dumps({"op": op, **fields}, separators=(",", ":")) + "\n").encode()


class LineSplitter:
    """Bytes in, decoded JSON events out; a partial line waits for the rest.

    A partial line grows in one ``bytearray`` (realloc moves no large block) and only new data
    is searched for the end of line, so a line of many MB (one big print) costs linear time
    and its own size once. A line over ``SPILL_THRESHOLD_BYTES`` is parsed by
    :func:`~runt_action.agents.spill.loads_spilling`: a display's or result's large MIME
    values go to files in the splitter's own temporary folder (removed with it) and reach the
    sink as ``SpilledText``, so a 100 MB animation never exists twice in memory.
    """

    def __init__(self) -> None:
        self._partial = bytearray()
        self._spill_dir: Path | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if b"\n" not in data:
            self._partial += data
            return []
        *lines, rest = data.split(b"\n")
        whole: list[bytes | bytearray] = list(lines)
        if self._partial:
            self._partial += lines[0]
            whole[0], self._partial = self._partial, bytearray()
        self._partial += rest
        events: list[dict[str, Any]] = []
        while whole:
            line = whole.pop(0)  # a long line goes as soon as it is parsed
            if not line or line.isspace():  # (not strip(): a copy of a 100 MB line)
                continue
            try:
                event = self._parse(line)
            except ValueError:
                continue  # not ours (the bridge never writes anything else; be tolerant)
            if isinstance(event, dict):
                events.append(event)
        return events

    def _parse(self, line: bytes | bytearray) -> Any:
        if len(line) <= SPILL_THRESHOLD_BYTES:
            return json.loads(line)
        if self._spill_dir is None:
            self._spill_dir = Path(tempfile.mkdtemp(prefix="runt-spill-"))  # mode 0700
            weakref.finalize(self, shutil.rmtree, self._spill_dir, True)
        event = loads_spilling(line, directory=self._spill_dir)
        if isinstance(event, dict):
            read_back_outside(event, "data" if event.get("ev") in ("display", "result") else "")
        return event


def deliver(event: dict[str, Any], sink: OutputSink) -> None:
    """Hand one output event of a running cell to the sink (done/ready are not outputs)."""
    kind = event.get("ev")
    if kind == "stream":
        sink.stream(str(event.get("name", "stdout")), str(event.get("text", "")))
    elif kind == "display":
        display_id = event.get("display_id")
        sink.display(
            dict(event.get("data") or {}),
            dict(event.get("metadata") or {}) or None,
            None if display_id is None else str(display_id),
            update=bool(event.get("update")),
        )
    elif kind == "result":
        sink.result(dict(event.get("data") or {}), dict(event.get("metadata") or {}) or None)
    elif kind == "error":
        sink.error(
            str(event.get("ename", "Error")),
            str(event.get("evalue", "")),
            [str(line) for line in event.get("traceback") or []],
        )
    elif kind == "clear":
        sink.clear(bool(event.get("wait")))


def outcome_of(event: dict[str, Any]) -> ExecOutcome:
    """The ExecOutcome a ``done`` event stands for."""
    try:
        status = ExecStatus(str(event.get("status")))
    except ValueError:
        status = ExecStatus.ERROR
    count = event.get("execution_count")
    return ExecOutcome(status, count if isinstance(count, int) else None)
