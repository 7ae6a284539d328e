"""What a runtime agent needs from an execution engine (Pyodide on Deno, or a native kernel).

The agent core turns these calls into runt events; an engine never sees LiveStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["Engine", "ExecOutcome", "ExecStatus", "OutputSink"]


class OutputSink(Protocol):
    """Where an engine reports what a running cell produces, as it produces it."""

    def stream(self, name: str, text: str) -> None:
        """stdout/stderr text (``name`` is "stdout" or "stderr")."""

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        """display_data (or update_display_data when ``update``); ``data`` is a MIME bundle."""

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """execute_result: the value of the cell's last expression."""

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        """The exception that ended the cell (traceback lines, ANSI stripped)."""

    def clear(self, wait: bool = False) -> None:
        """IPython clear_output."""


class ExecStatus(StrEnum):
    OK = "ok"  # ran to the end
    ERROR = "error"  # user code raised (the sink got .error)
    INTERRUPTED = "interrupted"  # interrupt() stopped it


@dataclass(slots=True)
class ExecOutcome:
    status: ExecStatus
    execution_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """One Python execution environment with a persistent namespace."""

    runtime_type: str  # "python3-pyodide" | "python3"

    async def start(self) -> None:
        """Boot; raise errors.RuntimeAgentError on failure."""

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        """Run one cell; stream outputs into ``sink`` while it runs.

        ``cell_id`` (the notebook cell's id) names the code in tracebacks, on every engine:
        ``File "<cell ID>", line N`` (report/annotations.py maps N to the YAML line).

        Raises errors.RuntimeDied if the process goes away (within 2 s of it dying).
        """

    async def interrupt(self) -> None:
        """Ask the running cell to stop (KeyboardInterrupt); returns at once."""

    async def restart(self) -> None:
        """Kill the process at once, whatever it runs, and boot a fresh one (empty namespace).

        A running ``execute()`` raises errors.RuntimeDied. For a cell that ignores interrupts;
        raises errors.RuntimeAgentError if the fresh process does not start.
        """

    async def shutdown(self) -> None:
        """Stop the process; idempotent."""
