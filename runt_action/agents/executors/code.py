"""Code cells: the cell's source, run by the agent's engine (Pyodide or a Jupyter kernel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runt_action.agents.engine import ExecOutcome, OutputSink
    from runt_action.agents.executors.base import Execution

__all__ = ["CodeExecutor"]


class CodeExecutor:
    cell_types = frozenset({"code"})
    capability = "canExecuteCode"

    async def execute(self, run: Execution, sink: OutputSink) -> ExecOutcome:
        return await run.engine.execute(run.cell.source, sink, cell_id=run.cell.id)

    async def interrupt(self, run: Execution) -> None:
        await run.engine.interrupt()

    async def close(self) -> None:
        return None
