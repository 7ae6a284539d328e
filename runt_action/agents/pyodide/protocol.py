"""The bridge's JSON-lines protocol, without I/O: encode commands, split and route events.

Commands (to the bridge's stdin): init, exec, interrupt, shutdown.
Events (from its stdout): ready, fatal, and per cell stream / display / result / error /
clear, closed by done{status, execution_count}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink

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

    A partial line is kept as a list of chunks and only new data is searched for the end of
    line, so a line of many MB (one big print) costs linear time, not a copy per read.
    """

    def __init__(self) -> None:
        self._partial: list[bytes] = []

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if b"\n" not in data:
            if data:
                self._partial.append(data)
            return []
        *lines, rest = data.split(b"\n")
        if self._partial:
            lines[0] = b"".join([*self._partial, lines[0]])
        self._partial = [rest] if rest else []
        events: list[dict[str, Any]] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours (the bridge never writes anything else; be tolerant)
            if isinstance(event, dict):
                events.append(event)
        return events


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
