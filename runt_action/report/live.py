"""The live log: each cell's output echoed as it arrives, without letting it command the runner.

In GitHub Actions every cell gets a ``::group::`` and its output is fenced by
``::stop-commands::`` (a notebook printing ``::add-mask::`` or ``::error::`` must not be
obeyed). On a terminal a compact progress line is kept at the bottom; anywhere else plain
lines are printed. Output is echoed line by line, so a secret split across two chunks is
still scrubbed as a whole.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from runt_action.report.commands import WorkflowCommands
from runt_action.report.escape import strip_controls
from runt_action.results import CellOutput, CellResult, CellStatus

__all__ = ["STATUS_SYMBOLS", "LiveLog", "format_duration", "output_text"]

STATUS_SYMBOLS: dict[CellStatus, str] = {
    CellStatus.SUCCESS: "✓",
    CellStatus.FAILED: "✗",
    CellStatus.TIMEOUT: "⏱",
    CellStatus.CANCELLED: "⊘",
    CellStatus.SKIPPED: "↷",
    CellStatus.NOT_EXECUTED: "·",
    CellStatus.ALLOWED_ERROR: "!",
}
_COLOURS: dict[CellStatus, str] = {
    CellStatus.SUCCESS: "32",
    CellStatus.FAILED: "31",
    CellStatus.TIMEOUT: "31",
    CellStatus.ALLOWED_ERROR: "33",
}
_MAX_PENDING = 8192  # echo a partial line anyway once it gets this long
_CLEAR = "\r\x1b[K"


def format_duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def output_text(output: CellOutput) -> str:
    """What a log can show of one output: text as-is, rich data as a placeholder."""
    if output.output_type == "stream":
        return output.text or ""
    if output.output_type == "error":
        if output.traceback:
            return "\n".join(output.traceback) + "\n"
        return f"{output.ename or 'Error'}: {output.evalue or ''}\n"
    plain = output.data.get("text/plain")
    if plain is not None:
        text = "".join(plain) if isinstance(plain, list) else str(plain)
        return text if text.endswith("\n") else text + "\n"
    kinds = ", ".join(sorted(output.data)) or "no data"
    return f"[{output.output_type}: {kinds}]\n"


class LiveLog:
    """Callbacks the orchestrator calls while a run progresses.

    ``index`` is 0-based (shown as ``index + 1``). Outputs for a cell other than the current
    one are still echoed, fenced, under a ``[cell id]`` line.
    """

    def __init__(self, commands: WorkflowCommands, *, tty: bool | None = None) -> None:
        self.commands = commands
        if tty is None:
            isatty = getattr(commands.stream, "isatty", None)
            tty = bool(isatty and isatty()) and not os.environ.get("CI")
        self.tty = tty and not commands.github_actions
        self._stack = ExitStack()
        self._current: str | None = None
        self._label = ""
        self._status_shown = False
        self._pending = ""

    # -- orchestrator callbacks -------------------------------------------------------
    def on_cell_start(self, cell: CellResult | str, index: int, total: int) -> None:
        self._finish_cell()
        cell_id = cell if isinstance(cell, str) else cell.id
        kind = "" if isinstance(cell, str) else f" ({cell.cell_type})"
        self._current = cell_id
        self._label = f"[{index + 1}/{total}] {cell_id}"
        cmd = self.commands
        if cmd.github_actions:
            self._stack.enter_context(cmd.group(f"Cell {cell_id}{kind} [{index + 1}/{total}]"))
            self._stack.enter_context(cmd.stop_commands())
        elif self.tty:
            self._show_status(f"▶ {self._label}{kind} running…")
        else:
            cmd.line(f"{self._label}{kind}: running")

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        if cell_id != self._current:
            self._flush_pending()
            self._enter_fence()
            self._echo(f"[{cell_id}]\n")
        if output.output_type == "stream":
            self._pending += output.text or ""
            cut = self._pending.rfind("\n") + 1
            if cut == 0 and len(self._pending) >= _MAX_PENDING:
                cut = len(self._pending)
            if cut:
                chunk, self._pending = self._pending[:cut], self._pending[cut:]
                self._echo(chunk)
        else:
            self._flush_pending()
            self._echo(output_text(output))

    def on_cell_end(self, cell: CellResult) -> None:
        if cell.id == self._current:
            self._finish_cell()
        self._print_result(cell)

    def close(self) -> None:
        """End any open group and fence (e.g. on cancellation), so later commands work."""
        self._finish_cell()

    # -- internals --------------------------------------------------------------------
    def _enter_fence(self) -> None:
        if self.commands.github_actions and not self.commands.fenced:
            self._stack.enter_context(self.commands.stop_commands())

    def _finish_cell(self) -> None:
        self._flush_pending()
        self.commands.ensure_newline()
        self._stack.close()
        self._stack = ExitStack()
        self._clear_status()
        self._current = None

    def _flush_pending(self) -> None:
        if self._pending:
            chunk, self._pending = self._pending, ""
            self._echo(chunk if chunk.endswith("\n") else chunk + "\n")

    def _echo(self, text: str) -> None:
        if not text:
            return
        self._clear_status()
        self.commands.write(text)
        if self.tty and self._current is not None:
            self._show_status(f"▶ {self._label} running…")

    def _show_status(self, text: str) -> None:
        self.commands.ensure_newline()
        self.commands.write(strip_controls(text).replace("\n", " "))
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.commands.raw(_CLEAR, line_start=True)
            self._status_shown = False

    def _print_result(self, cell: CellResult) -> None:
        symbol = STATUS_SYMBOLS.get(cell.status, "?")
        text = f"{symbol} Cell {cell.id}: {cell.status.value}"
        if cell.duration_ms:
            text += f" in {format_duration(cell.duration_ms)}"
        if cell.attempts > 1:
            text += f" after {cell.attempts} attempts"
        error = next((o for o in cell.outputs if o.output_type == "error"), None)
        if error is not None and cell.status is not CellStatus.SUCCESS:
            text += f": {error.ename}: {error.evalue}"
        elif cell.reason:
            text += f" ({cell.reason})"
        if not self.tty:
            self.commands.line(text)
            return
        text = strip_controls(text).replace("\n", " ")
        colour = _COLOURS.get(cell.status)
        self.commands.ensure_newline()
        self.commands.write(f"\x1b[{colour}m{text}\x1b[0m\n" if colour else text + "\n")
