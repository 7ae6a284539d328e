"""The live log: each cell's output echoed as it arrives, without letting it command the runner.

In GitHub Actions every cell gets a ``::group::`` and its output is fenced by
``::stop-commands::`` (a notebook printing ``::add-mask::`` or ``::error::`` must not be
obeyed). On a terminal (a TTY, never in Actions) a progress line with ``n/N`` and the elapsed
time is kept at the bottom and redrawn with a carriage return; anywhere else plain lines are
printed. Output is echoed line by line, so a secret split across two chunks is still scrubbed
as a whole.

Output reaches a terminal (or the runner's log) neutralised, scrubbed first: only SGR colour
sequences stay (both render them); window titles, cursor moves, screen clears and every
other control are dropped, an OSC 8 hyperlink shows as ``text <url>``, and bidi controls as
visible markers (:func:`runt_action.masking.terminal_safe`).

An output the agent marks with ``metadata["runt_action"] = {"kind": K, "notice": TEXT}``
(K: dropped, truncated, restarted) also raises a warning naming the cell: ``::warning`` in
Actions, a ``warning:`` line elsewhere. They are kept in :attr:`LiveLog.notices` too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from runt_action.report.commands import WorkflowCommands
from runt_action.report.escape import strip_controls, terminal_safe
from runt_action.report.media import output_as_text
from runt_action.results import CellOutput, CellResult, CellStatus

__all__ = [
    "STATUS_SYMBOLS",
    "LiveLog",
    "Notice",
    "format_duration",
    "output_notice",
    "output_text",
]

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
    """What a log can show of one output: text as-is, images as placeholders."""
    return output_as_text(output)


@dataclass(frozen=True, slots=True)
class Notice:
    """A visible note an agent attached to an output (something dropped, cut or restarted)."""

    cell_id: str
    kind: str  # one of schema.notices.NOTICE_KINDS
    text: str


def output_notice(output: CellOutput) -> tuple[str, str] | None:
    """``(kind, text)`` of the output's ``metadata["runt_action"]`` notice, if it has one,
    parsed by schema.notices (the one parser of the contract), the text on one line."""
    if not output.metadata:
        return None
    from runt_action.schema.notices import notice_of  # imported on the first output with one

    found = notice_of(output.metadata)
    if found is None or not found[1].strip():
        return None
    return found[0], " ".join(found[1].split())


class LiveLog:
    """Callbacks the orchestrator calls while a run progresses.

    ``index`` is 0-based (shown as ``index + 1``). Outputs for a cell other than the current
    one are still echoed, fenced, under a ``[cell id]`` line. On a TTY the progress line is
    redrawn every ``tick_interval`` seconds while a cell runs (a timer on the running asyncio
    loop, when there is one; :meth:`tick` does one redraw).
    """

    def __init__(
        self,
        commands: WorkflowCommands,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        log_output: bool = True,
    ) -> None:
        """``log_output=False`` (``--no-log-output``): cell outputs are not echoed; cell start
        and end lines and notices still are."""
        self.commands = commands
        self.log_output = log_output
        if tty is None:
            isatty = getattr(commands.stream, "isatty", None)
            tty = bool(isatty and isatty()) and not os.environ.get("CI")
        self.tty = tty and not commands.github_actions
        self.notices: list[Notice] = []
        self._clock = clock
        self._tick_interval = tick_interval
        self._run_started = clock()
        self._cell_started = self._run_started
        self._group = ExitStack()
        self._fence = ExitStack()
        self._current: str | None = None
        self._label = ""
        self._status_shown = False
        self._pending = ""
        self._timer: asyncio.TimerHandle | None = None

    # -- orchestrator callbacks -------------------------------------------------------
    def on_cell_start(self, cell: CellResult | str, index: int, total: int) -> None:
        self._finish_cell()
        cell_id = cell if isinstance(cell, str) else cell.id
        kind = "" if isinstance(cell, str) else f" ({cell.cell_type})"
        self._current = cell_id
        self._cell_started = self._clock()
        self._label = f"[{index + 1}/{total}] {cell_id}"
        cmd = self.commands
        if cmd.github_actions:
            self._group.enter_context(cmd.group(f"Cell {cell_id}{kind} [{index + 1}/{total}]"))
            self._fence.enter_context(cmd.stop_commands())
        elif self.tty:
            self._show_progress()
            self._schedule_tick()
        else:
            cmd.line(f"{self._label}{kind}: running")

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        notice = output_notice(output)
        if not self.log_output:
            if notice is not None:
                self._warn(Notice(cell_id, *notice))
            return
        if cell_id != self._current:
            self._flush_pending()
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
        if notice is not None:
            self._warn(Notice(cell_id, *notice))

    def on_cell_end(self, cell: CellResult) -> None:
        if cell.id == self._current:
            self._finish_cell()
        self._print_result(cell)

    def close(self) -> None:
        """End any open group and fence (e.g. on cancellation), so later commands work."""
        self._finish_cell()

    def tick(self) -> None:
        """Redraw the progress line with the current elapsed times (TTY only)."""
        if self.tty and self._current is not None:
            self._clear_status()
            self._show_progress()

    # -- internals --------------------------------------------------------------------
    def _schedule_tick(self) -> None:
        self._cancel_tick()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the line is redrawn on each event
        self._timer = loop.call_later(self._tick_interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._current is not None:
            self.tick()
            self._schedule_tick()

    def _cancel_tick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _warn(self, notice: Notice) -> None:
        """A warning naming the cell; in Actions it steps out of the fence to be obeyed."""
        self.notices.append(notice)
        self._flush_pending()
        self._clear_status()
        self._fence.close()  # output after it opens a new fence (see _echo)
        self._fence = ExitStack()
        self.commands.warning(
            f"Cell {notice.cell_id}: {notice.text}", title=f"Output {notice.kind}"
        )
        if self.tty and self._current is not None:
            self._show_progress()

    def _enter_fence(self) -> None:
        if self.commands.github_actions and not self.commands.fenced:
            self._fence.enter_context(self.commands.stop_commands())

    def _finish_cell(self) -> None:
        self._cancel_tick()
        self._flush_pending()
        self._clear_status()
        self.commands.ensure_newline()
        self._fence.close()
        self._fence = ExitStack()
        self._group.close()
        self._group = ExitStack()
        self._clear_status()
        self._current = None

    def _flush_pending(self) -> None:
        if self._pending:
            chunk, self._pending = self._pending, ""
            self._echo(chunk if chunk.endswith("\n") else chunk + "\n")

    def _echo(self, text: str) -> None:
        """Untrusted text; in Actions only ever written inside a stop-commands fence.
        Scrubbed before it is neutralised, so a secret is found in its raw spelling too."""
        if not text:
            return
        self._enter_fence()
        self._clear_status()
        self.commands.write(terminal_safe(self.commands.scrubber.text(text)))
        if self.tty and self._current is not None:
            self._show_progress()

    def _progress_text(self) -> str:
        now = self._clock()
        cell = format_duration((now - self._cell_started) * 1000)
        total = format_duration((now - self._run_started) * 1000)
        return f"▶ {self._label} running {cell} · elapsed {total}"

    def _show_progress(self) -> None:
        text = strip_controls(self._progress_text()).replace("\n", " ")
        width = shutil.get_terminal_size((100, 24)).columns - 1
        if len(text) > width > 10:  # a wrapped line could not be redrawn with \r
            text = text[: width - 1] + "…"
        self.commands.ensure_newline()
        self.commands.write(text)
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
        if cell.status is CellStatus.TIMEOUT and cell.reason:
            text += f": {cell.reason}"  # not the KeyboardInterrupt the cancel caused
        elif error is not None and cell.status is not CellStatus.SUCCESS:
            text += f": {error.ename}: {error.evalue}"
        elif cell.reason:
            text += f" ({cell.reason})"
        text = self.commands.scrubber.text(text)  # before strip_controls changes its spelling
        if not self.tty:
            self.commands.line(text)
            return
        text = strip_controls(text).replace("\n", " ")
        colour = _COLOURS.get(cell.status)
        self.commands.ensure_newline()
        self.commands.write(f"\x1b[{colour}m{text}\x1b[0m\n" if colour else text + "\n")
