"""A notebook's materialised state, as the viewer renders it: cells in the report's shape.

The server's pushes feed a :class:`~runt_action.schema.state.NotebookMaterializer`; this module
turns the resulting state into :class:`CellResult` rows plus a live status per cell (queued,
running, ...), and renders them with the report's own cell renderer, so the live page and the
report cannot drift apart. Rendering is cached per state change; each page connection gets
only the fragments that changed since it last heard from us.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from runt_action.orchestrator.outputs import outputs_from_state
from runt_action.report.html import ASSETS, render_cell, template_environment
from runt_action.report.scrub import Scrubber, scrub_cell
from runt_action.report.sidefiles import linked_artifacts
from runt_action.results import CellResult, CellStatus
from runt_action.schema.state import NotebookMaterializer, NotebookState, QueueEntry
from runt_action.schema.verdict import RunVerdict, cell_verdict, run_verdict

__all__ = [
    "LiveNotebook",
    "Subscriber",
    "cells_from_state",
    "notebook_status",
    "viewer_environment",
]

VIEWER_ASSETS = Path(__file__).with_name("assets")


@cache
def viewer_environment() -> jinja2.Environment:
    """The report's template environment (same globals, same cell template) plus ours."""
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(str(VIEWER_ASSETS)), jinja2.FileSystemLoader(str(ASSETS))]
    )
    return template_environment().overlay(loader=loader)


_QUEUE_STATUS = {
    "pending": "queued",
    "assigned": "queued",
    "executing": "running",
    "completed": "success",
    "failed": "failed",
    "cancelled": "cancelled",
}
_DEFINITE = {status.value: status for status in CellStatus}


def _last_request(state: NotebookState) -> dict[str, tuple[QueueEntry, int]]:
    """Per cell: its latest queue row and how many times it was requested."""
    found: dict[str, tuple[QueueEntry, int]] = {}
    for entry in state.queue.values():
        _, count = found.get(entry.cell_id, (entry, 0))
        found[entry.cell_id] = (entry, count + 1)
    return found


def cells_from_state(state: NotebookState) -> list[tuple[CellResult, str]]:
    """Every cell in notebook order with its live status (a CellStatus value, or ``queued``,
    ``running``, ``idle``)."""
    requests = _last_request(state)
    rows: list[tuple[CellResult, str]] = []
    for cell in state.ordered_cells():
        outputs = outputs_from_state(state, cell.id)
        entry, attempts = requests.get(cell.id, (None, 0))
        if cell.cell_type == "markdown":
            status = CellStatus.NOT_EXECUTED.value
        elif entry is None:
            status = "idle"
        else:
            status = _QUEUE_STATUS.get(entry.status, entry.status)
            if status == "success" and any(o.output_type == "error" for o in outputs):
                status = "failed"
        duration = (entry.execution_duration_ms if entry else None) or (
            cell.last_execution_duration_ms or 0.0
        )
        # The run's own word on this request (allowed error, skipped and why, timeout, notes)
        # over what the queue suggests; a newer request than the verdict's is live again.
        verdict = cell_verdict(state, cell.id)
        reason, notes = None, []
        if verdict is not None and verdict.queue_id == (entry.id if entry else None):
            status, reason, notes = verdict.status, verdict.reason, list(verdict.notes)
            attempts = max(attempts, verdict.attempts)
        result = CellResult(
            id=cell.id,
            cell_type=cell.cell_type,
            source=cell.source,
            status=_DEFINITE.get(status, CellStatus.NOT_EXECUTED),
            duration_ms=float(duration) if status not in ("running", "queued") else 0.0,
            attempts=attempts,
            execution_count=cell.execution_count,
            queue_id=entry.id if entry else None,
            outputs=outputs,
            reason=reason,
            notes=notes,
        )
        rows.append((result, status))
    return rows


def runtime_dead(state: NotebookState, now: datetime) -> bool:
    """A runtime was there and is gone without the run saying it ended: its last session
    terminated with an error, or stopped renewing (the UI's 45 s rule)."""
    if not state.sessions or state.live_session(now) is not None:
        return False
    last = list(state.sessions.values())[-1]
    if last.status == "terminated":
        return last.terminated_reason in ("error", "timeout")
    return True  # active, but not live: its renewal is stale


def notebook_status(
    state: NotebookState,
    cells: Iterable[tuple[CellResult, str]],
    *,
    runtime_live: bool | None = None,
    now: datetime | None = None,
) -> str:
    """One word for a notebook: the run's final verdict when it published one and nothing
    runs since; else running while a cell runs or a runtime is live, ``dead`` when the
    runtime died under an unfinished run, else the worst finished state, success, or idle.

    ``runtime_live`` defaults to the UI's session health rule at ``now`` (a runtime that
    died without a word stops counting once its renewal is 45 s stale)."""
    now = now or datetime.now(UTC)
    statuses = [s for _, s in cells]
    busy = any(s in ("running", "queued") for s in statuses)
    verdict = run_verdict(state)
    if verdict is not None and verdict.final and not busy:
        return verdict.status
    if runtime_live is None:
        runtime_live = state.live_session(now) is not None
    if (busy or verdict is not None) and not runtime_live and runtime_dead(state, now):
        return "dead"
    if busy or runtime_live:
        return "running"
    for worst in ("failed", "timeout", "cancelled"):
        if worst in statuses:
            return worst
    return "success" if "success" in statuses or "allowed-error" in statuses else "idle"


def _verdict_error(verdict: RunVerdict | None, status: str) -> str | None:
    if status == "dead":
        return "the runtime stopped (it died or stopped renewing its session) before the run ended"
    if verdict is not None and verdict.final and verdict.status == status:
        return verdict.error
    return None


@dataclass(eq=False, slots=True)
class Subscriber:
    """One page connection: what it has been sent, and a wake-up for changes."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    header: str | None = None
    order: list[str] = field(default_factory=list)
    cells: dict[str, str] = field(default_factory=dict)
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Rendered:
    header: str
    order: list[str]
    cells: dict[str, str]
    title: str
    status: str
    count: int


@dataclass(eq=False, slots=True)
class LiveNotebook:
    """One store's state, fed by the server's pushes, rendered on demand and cached."""

    store_id: str
    scrubber: Scrubber = field(default_factory=Scrubber)  # the run's secrets, when known
    state: NotebookState = field(default_factory=NotebookState)
    last_update: str | None = None
    changes: int = 0
    subscribers: set[Subscriber] = field(default_factory=set)
    _materializer: NotebookMaterializer = field(default_factory=NotebookMaterializer)
    _rendered: tuple[tuple[int, bool], Rendered] | None = None
    # cell id -> (the cell as last rendered, its live status, its HTML): a change re-renders
    # only the cells it touched (markdown and highlighting are the costly part).
    _fragments: dict[str, tuple[CellResult, str, str]] = field(default_factory=dict)

    def apply(self, events: Iterable[Any]) -> None:
        """Fold events into the state (the server calls this per push) and wake the pages."""
        for event in events:
            self._materializer.apply(self.state, event)
            created = getattr(event, "created_at", None)
            if created:
                self.last_update = str(created)
        self.changes += 1
        for sub in self.subscribers:
            sub.wake.set()

    def render(self) -> Rendered:
        # The runtime's health depends on the clock too, not only on events.
        key = (self.changes, self.state.live_session(datetime.now(UTC)) is not None)
        if self._rendered is not None and self._rendered[0] == key:
            return self._rendered[1]
        cells = cells_from_state(self.state)
        status = notebook_status(self.state, cells, runtime_live=key[1])
        title = self.scrubber.text(self.state.metadata.get("title") or self.store_id)
        verdict = run_verdict(self.state)
        counts: dict[str, int] = {}
        for cell, live in cells:
            if cell.cell_type != "markdown":
                counts[live] = counts.get(live, 0) + 1
        if verdict is not None and verdict.final and status == verdict.status:
            counts = dict(verdict.counts)  # the report's counts, word for word
        header = self.scrubber.text(
            viewer_environment()
            .get_template("viewer_header.html.j2")
            .render(
                title=title,
                store_id=self.scrubber.text(self.store_id),
                status=status,
                last_update=self.last_update,
                counts=counts,
                error=_verdict_error(verdict, status),
            )
        )
        fragments = {cell.id: self._fragment(cell, i, live) for i, (cell, live) in enumerate(cells)}
        for gone in set(self._fragments) - set(fragments):
            del self._fragments[gone]
        rendered = Rendered(
            header=header,
            order=[c.id for c, _ in cells],
            cells=fragments,
            title=title,
            status=status,
            count=len(cells),
        )
        self._rendered = (key, rendered)
        return rendered

    def _fragment(self, cell: CellResult, index: int, status: str) -> str:
        cached = self._fragments.get(cell.id)
        if cached is not None and cached[1] == status and cached[0] == cell:
            return cached[2]
        # Scrubbed before rendering: once escaped (&#34;, &quot;, Pygments' and markdown's
        # spellings) a secret is no longer a string the scrubber can find. And after, in case.
        # Outputs sent as artifacts are loaded by the page from this server (viewer/app.py).
        shown = linked_artifacts(cell, lambda aid: f"/nb/{quote(self.store_id)}/artifacts/{aid}")
        clean = scrub_cell(shown, self.scrubber)
        html = self.scrubber.text(str(render_cell(clean, index=index, status=status)))
        self._fragments[cell.id] = (cell, status, html)
        return html

    def diff(self, sub: Subscriber) -> dict[str, Any] | None:
        """What ``sub`` has not seen yet (changed fragments, order, header), or None."""
        now = self.render()
        message: dict[str, Any] = {}
        if now.header != sub.header:
            message["header"] = sub.header = now.header
        changed = {k: v for k, v in now.cells.items() if sub.cells.get(k) != v}
        if changed:
            message["cells"] = changed
        if changed or now.order != sub.order:
            message["order"] = now.order
        sub.order = list(now.order)
        sub.cells = dict(now.cells)
        return message or None
