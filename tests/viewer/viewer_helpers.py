"""Helpers for the viewer tests (imported via the conftest's sys.path entry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from runt_action.livestore.store import Store
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookState
from runt_action.timeouts import Timeouts

FAST = Timeouts(connect=10.0, request=10.0)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cell_events(cell_id: str, index: str, source: str, kind: str = "code") -> list[ev.RuntEvent]:
    return [
        ev.CellCreated2(id=cell_id, fractionalIndex=index, cellType=kind, createdBy="test"),
        ev.CellSourceChanged(id=cell_id, source=source, modifiedBy="test"),
    ]


def run_events(cell_id: str, queue_id: str, text: str, status: str = "success") -> list[Any]:
    return [
        ev.ExecutionRequested(queueId=queue_id, cellId=cell_id, executionCount=1, requestedBy="t"),
        ev.ExecutionStarted(queueId=queue_id, cellId=cell_id, runtimeSessionId="s", startedAt=NOW),
        ev.TerminalOutputAdded(
            id=f"o-{queue_id}",
            cellId=cell_id,
            position=0,
            content=ev.InlineMedia(data=text),
            streamName="stdout",
        ),
        ev.ExecutionCompleted(
            queueId=queue_id,
            cellId=cell_id,
            status=status,
            completedAt=NOW,
            executionDurationMs=1234,
        ),
    ]


async def commit_all(store: Store[NotebookState], events: list[Any]) -> None:
    for event in events:
        store.commit(*event.wire())
    await store.flush(10)


Connect = Callable[[str], Awaitable[Store[NotebookState]]]
