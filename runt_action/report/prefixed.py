"""The live log of a batch running several entries at once: whole lines, each prefixed.

With ``--jobs K`` the entries' outputs would interleave mid-line, so each output is cut into
whole lines and printed as ``[name] line`` (a partial line waits for its end, or for the end of
the cell). Every line goes through :meth:`WorkflowCommands.line`: scrubbed, control characters
stripped, never a workflow command. ``log_output=False`` (``--no-log-output``) keeps the cell
outputs out and prints only each cell's verdict.
"""

from __future__ import annotations

from runt_action.report.commands import WorkflowCommands
from runt_action.report.live import format_duration, output_text
from runt_action.results import CellOutput, CellResult, CellStatus

__all__ = ["PrefixedLog"]

_SHOWN = (CellStatus.FAILED, CellStatus.TIMEOUT, CellStatus.CANCELLED)


class PrefixedLog:
    def __init__(self, commands: WorkflowCommands, name: str, *, log_output: bool = True) -> None:
        self.commands = commands
        self.prefix = f"[{name}] "
        self.log_output = log_output
        self._pending: dict[str, str] = {}

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None:
        pass

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        if not self.log_output:
            return
        text = self._pending.pop(cell_id, "") + output_text(output)
        lines = text.split("\n")
        if output.output_type == "stream" and not text.endswith("\n"):
            self._pending[cell_id] = lines.pop()
        elif lines and lines[-1] == "":
            lines.pop()
        for line in lines:
            self.commands.line(self.prefix + line)

    def on_cell_end(self, cell: CellResult) -> None:
        rest = self._pending.pop(cell.id, "")
        if rest:
            self.commands.line(self.prefix + rest)
        if cell.status in _SHOWN:
            why = f": {cell.reason}" if cell.reason else ""
            self.commands.line(
                f"{self.prefix}cell {cell.id}: {cell.status.value} in "
                f"{format_duration(cell.duration_ms)}{why}"
            )

    def close(self) -> None:
        for rest in self._pending.values():
            if rest:
                self.commands.line(self.prefix + rest)
        self._pending.clear()
