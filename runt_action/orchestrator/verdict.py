"""Publish what the run decided into its notebook (schema/verdict.py says how and why).

On each checkpoint the cells decided so far (status ``running`` for the run), and at the end
the final verdict, before the session closes, so the live page, the index, ``serve`` after
the fact and any LiveStore client show what the report shows. Only keys whose value changed
are committed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from runt_action.livestore.store import Store
from runt_action.results import CellResult, CellStatus, RunStatus
from runt_action.schema.state import NotebookState
from runt_action.schema.verdict import (
    CellVerdict,
    RunVerdict,
    cell_verdict_event,
    run_verdict_event,
)

__all__ = ["VerdictPublisher", "run_counts"]

_log = logging.getLogger(__name__)


def run_counts(cells: Sequence[CellResult]) -> dict[str, int]:
    """Cells per status, as the report's header counts them (markdown cells left out)."""
    counts: dict[str, int] = {}
    for cell in cells:
        if cell.cell_type == "code" or cell.status != CellStatus.NOT_EXECUTED:
            counts[cell.status.value] = counts.get(cell.status.value, 0) + 1
    return counts


def _cell(cell: CellResult, scrub: Callable[[str], str]) -> CellVerdict:
    return CellVerdict(
        status=cell.status.value,
        reason=scrub(cell.reason) if cell.reason is not None else None,
        notes=tuple(scrub(note) for note in cell.notes),
        queue_id=cell.queue_id,
        attempts=cell.attempts,
    )


class VerdictPublisher:
    """Commits verdicts on one Store, each key only when its value changed.

    ``scrub`` masks the run's secrets in reasons and notes (an error text may quote one)."""

    def __init__(
        self, store: Store[NotebookState], *, scrub: Callable[[str], str] | None = None
    ) -> None:
        self._store = store
        self._scrub: Callable[[str], str] = scrub or (lambda text: text)
        self._sent: dict[str, str] = {}
        self._futures: list[asyncio.Future[Any]] = []
        self._run_sent: tuple[Any, ...] | None = None

    def _commit(self, key: str, value: str) -> None:
        if self._sent.get(key) == value:
            return
        try:
            future = self._store.commit("v1.NotebookMetadataSet", {"key": key, "value": value})
        except Exception as exc:  # a verdict must never break the run; the report has it
            _log.warning("could not publish the run's verdict: %s", exc)
            return
        future.add_done_callback(_consume)
        self._sent[key] = value
        self._futures.append(future)

    def publish(
        self,
        cells: Sequence[CellResult],
        status: RunStatus,
        *,
        error: str | None = None,
    ) -> None:
        """Commit the decided cells (never a ``not reached`` placeholder while running) and
        the run's status; ``final`` unless ``status`` is RUNNING."""
        final = status != RunStatus.RUNNING
        for cell in cells:
            if cell.cell_type != "code" and cell.status == CellStatus.NOT_EXECUTED:
                continue
            if not final and cell.status == CellStatus.SKIPPED and cell.reason == "not reached":
                continue
            event = cell_verdict_event(cell.id, _cell(cell, self._scrub))
            self._commit(event.key, event.value)
        counts = run_counts(cells)
        decided = (status.value, tuple(sorted(counts.items())), error, final)
        if decided == self._run_sent:
            return  # the time alone changing is no news
        run = RunVerdict(
            status=status.value,
            counts=counts,
            error=self._scrub(error) if error is not None else None,
            final=final,
            at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        event = run_verdict_event(run)
        self._commit(event.key, event.value)
        self._run_sent = decided

    async def flush(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait (bounded) until the server confirmed what was committed; a failure is logged,
        never raised: the files still carry the verdict."""
        pending = [f for f in self._futures if not f.done()]
        self._futures = []
        if not pending:
            return
        with contextlib.suppress(Exception):
            self._store.push_now()
        _, late = await asyncio.wait(pending, timeout=timeout)  # never cancels them
        if late:
            _log.warning("the run's verdict was not confirmed within %.1f s", timeout)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        _log.warning("could not publish the run's verdict: %s", future.exception())
