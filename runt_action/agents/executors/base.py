"""The interface every cell kind's executor implements, and the table the agent looks them up in.

Why an interface: code, SQL and AI cells share everything around execution (the queue, outputs
fitted to the wire, masking, timeouts, cancel and restart), and differ only in how a cell
becomes outputs. The core hands an executor one :class:`Execution` and a sink; the executor
returns an :class:`~runt_action.agents.engine.ExecOutcome` as an engine does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine, ExecOutcome, OutputSink
    from runt_action.livestore.store import Store
    from runt_action.masking import Scrubber
    from runt_action.schema.events import RuntEvent
    from runt_action.schema.state import Cell, NotebookState

__all__ = ["CellExecutor", "Execution", "Executors", "capabilities_of"]


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution of one cell, as an executor sees it.

    ``store`` is the agent's Store (confirmed state: earlier cells and their outputs, the
    notebook's metadata); ``commit`` commits an event through the agent's single choke point
    (secrets masked, refusals turned into notices), for executors that write more than
    outputs (an AI cell creating cells). ``mask`` is None when there are no secrets.
    """

    cell: Cell
    queue_id: str
    execution_count: int | None
    engine: Engine
    store: Store[NotebookState]
    commit: Callable[[RuntEvent], asyncio.Future[Any]]
    session_id: str
    actor_id: str
    mask: Scrubber | None = None
    run_cell: Callable[[str, str, float | None], Awaitable[str]] | None = None
    """``run_cell(cell_id, requested_by, timeout)``: execute another cell *now*, inside this
    execution (an AI cell running a cell it created), through the agent's own lifecycle
    (queue row, outputs, masking, interrupt); returns its ExecutionCompleted status. The
    agent runs one execution at a time, so a request queued behind this one would deadlock.
    """


class CellExecutor(Protocol):
    """Runs the cells of some kinds. Stateless between cells, except for what it opens once
    per run (SQL connections, an HTTP client), which :meth:`close` releases at shutdown."""

    cell_types: frozenset[str]
    """The ``cellType`` values (runt schema) this executor runs."""
    capability: str
    """The runtime capability it provides (``canExecuteCode``, ``canExecuteSql``, ...)."""

    async def execute(self, run: Execution, sink: OutputSink) -> ExecOutcome:
        """Run ``run.cell``, reporting outputs to ``sink`` as they come.

        Raise errors.RuntimeDied if the engine died; return an outcome otherwise (a failure
        of the cell is ``ExecStatus.ERROR`` with ``sink.error`` called first).
        """
        ...

    async def interrupt(self, run: Execution) -> None:
        """Ask the running cell to stop; returns at once."""
        ...

    async def close(self) -> None:
        """Release what the executor opened (connections, clients); idempotent."""
        ...


class Executors:
    """The executors of one agent, by cell type (the first one listed for a type wins)."""

    def __init__(self, executors: Iterable[CellExecutor]) -> None:
        self._all = tuple(executors)
        self._by_type: dict[str, CellExecutor] = {}
        for executor in self._all:
            for cell_type in executor.cell_types:
                self._by_type.setdefault(cell_type, executor)

    def __iter__(self) -> Any:
        return iter(self._all)

    def for_cell(self, cell_type: str) -> CellExecutor | None:
        return self._by_type.get(cell_type)

    async def close(self) -> None:
        for executor in self._all:
            await executor.close()


def capabilities_of(executors: Iterable[CellExecutor]) -> Mapping[str, Any]:
    """``RuntimeCapabilities`` for these executors: what the session announces is what it runs
    (and ``availableAiModels`` when an executor lists ``models``)."""
    caps: dict[str, Any] = {"canExecuteCode": False, "canExecuteSql": False, "canExecuteAi": False}
    for executor in executors:
        caps[executor.capability] = True
        models = getattr(executor, "models", None)
        if models:
            caps["availableAiModels"] = list(models)
    return caps
