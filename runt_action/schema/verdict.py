"""A run's own verdict, carried in the notebook's metadata so every reader sees the same one.

The runt schema has no event for "this run succeeded" and no cell-level metadata, and a
reader that guesses from the queue gets it wrong: a cell with ``allow_error`` completes with
status ``error`` (so its queue row says ``failed``), a skipped cell was never requested, a
timed-out one reads as cancelled. So the orchestrator writes what it decided with the
existing ``v1.NotebookMetadataSet`` (key/value strings; runt-schema §1.1, §2.1), which every
client materializes and ignores when it does not know the key:

- ``runt-automate.run``: ``{"v": 1, "status", "counts", "error", "final", "at"}``: the run's
  status as the report says it (``running`` on a checkpoint, then the final one);
- ``runt-automate.cell.<cell id>``: ``{"v": 1, "status", "reason", "notes", "queue_id",
  "attempts"}``: one key per cell, so a long notebook never makes one huge event and a
  checkpoint sends only the cells that changed.

A cell's verdict belongs to one request (``queue_id``): once the cell is requested again
(watch mode, someone pressing Run) the queue is newer than the verdict, and readers go back
to the live state. Values are JSON; one that does not parse is ignored (the live state
stands). The runt web app shows none of these keys; our viewer and any LiveStore client can.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runt_action.schema.events import NotebookMetadataSet
from runt_action.schema.state import NotebookState

__all__ = [
    "CELL_KEY_PREFIX",
    "RUN_KEY",
    "CellVerdict",
    "RunVerdict",
    "cell_verdict",
    "cell_verdict_event",
    "run_verdict",
    "run_verdict_event",
    "verdict_events",
]

RUN_KEY = "runt-automate.run"
CELL_KEY_PREFIX = "runt-automate.cell."
VERSION = 1
#: A reason or note longer than this is clipped, visibly, so one event stays small.
TEXT_LIMIT = 4000


def _clip(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f" … [clipped: {len(text) - TEXT_LIMIT} more characters]"


@dataclass(frozen=True, slots=True)
class CellVerdict:
    status: str  # a results.CellStatus value: success, allowed-error, skipped, ...
    reason: str | None = None
    notes: tuple[str, ...] = ()
    queue_id: str | None = None  # the request this verdict is about (None: never requested)
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class RunVerdict:
    status: str  # a results.RunStatus value; "running" before the end
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    final: bool = False
    at: str | None = None  # ISO time it was decided


def run_verdict_event(verdict: RunVerdict) -> NotebookMetadataSet:
    value = {
        "v": VERSION,
        "status": verdict.status,
        "counts": dict(verdict.counts),
        "error": _clip(verdict.error) if verdict.error is not None else None,
        "final": verdict.final,
        "at": verdict.at,
    }
    return NotebookMetadataSet(key=RUN_KEY, value=json.dumps(value, ensure_ascii=False))


def cell_verdict_event(cell_id: str, verdict: CellVerdict) -> NotebookMetadataSet:
    value = {
        "v": VERSION,
        "status": verdict.status,
        "reason": _clip(verdict.reason) if verdict.reason is not None else None,
        "notes": [_clip(n) for n in verdict.notes],
        "queue_id": verdict.queue_id,
        "attempts": verdict.attempts,
    }
    return NotebookMetadataSet(
        key=CELL_KEY_PREFIX + cell_id, value=json.dumps(value, ensure_ascii=False)
    )


def _load(state: NotebookState, key: str) -> dict[str, Any] | None:
    raw = state.metadata.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("v") != VERSION:
        return None
    if not isinstance(value.get("status"), str):
        return None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def run_verdict(state: NotebookState) -> RunVerdict | None:
    """The run's verdict in ``state``, if a run published one."""
    value = _load(state, RUN_KEY)
    if value is None:
        return None
    counts = value.get("counts")
    return RunVerdict(
        status=value["status"],
        counts={
            str(k): int(v)
            for k, v in (counts.items() if isinstance(counts, dict) else ())
            if isinstance(v, int) and not isinstance(v, bool)
        },
        error=_text(value.get("error")),
        final=value.get("final") is True,
        at=_text(value.get("at")),
    )


def cell_verdict(state: NotebookState, cell_id: str) -> CellVerdict | None:
    """Cell ``cell_id``'s verdict in ``state``, if a run published one."""
    value = _load(state, CELL_KEY_PREFIX + cell_id)
    if value is None:
        return None
    notes = value.get("notes")
    attempts = value.get("attempts")
    return CellVerdict(
        status=value["status"],
        reason=_text(value.get("reason")),
        notes=tuple(n for n in notes if isinstance(n, str)) if isinstance(notes, list) else (),
        queue_id=_text(value.get("queue_id")),
        attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0,
    )


def verdict_events(
    run: RunVerdict, cells: Sequence[tuple[str, CellVerdict]]
) -> list[NotebookMetadataSet]:
    """Cells first, then the run: a reader that sees the run's verdict sees its cells'."""
    return [cell_verdict_event(cid, v) for cid, v in cells] + [run_verdict_event(run)]
