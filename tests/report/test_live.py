from __future__ import annotations

import io
from typing import Any

from runt_action.report import live_log
from runt_action.report.commands import WorkflowCommands
from runt_action.report.live import LiveLog
from runt_action.results import CellOutput, CellStatus

HOSTILE = [
    "::add-mask::x\n",
    "::error::boom\n",
    "  ::set-output name=a::b\n",
    "text ##[error]legacy\n",
    "::endgroup::\n",
    "::stop-",  # split across chunks
    "commands::mytoken\n",
    "progress 10%\r::warning::after a carriage return\n",
]


def _run_cell(log: LiveLog, make: Any, cell_id: str = "c1", chunks: list[str] = HOSTILE) -> None:
    cell = make.cell(cell_id, outputs=[])
    log.on_cell_start(cell, 0, 2)
    for chunk in chunks:
        log.on_output(cell_id, CellOutput("stream", name="stdout", text=chunk))
    log.on_output(cell_id, CellOutput("execute_result", data={"text/plain": "::error::r"}))
    error = make.error("ValueError", "::error::evil evalue")
    log.on_output(cell_id, error)
    log.on_cell_end(make.cell(cell_id, CellStatus.FAILED, outputs=[error], duration_ms=1500))


def test_cell_output_is_fenced_in_actions(make: Any, runner: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=True, secrets=["tok3n-value"], stream=out)
    _run_cell(log, make)
    log.on_cell_start("c2", 1, 2)
    log.on_output("c2", CellOutput("stream", name="stdout", text="tok3n-value leaked?\n"))
    log.on_cell_end(make.cell("c2"))
    result = runner(out.getvalue())
    names = [c.name for c in result.commands]
    # Only our own commands were obeyed: masks, then per cell group + fence + endgroup.
    assert names == [
        "add-mask",
        "group", "add-mask", "stop-commands", "endgroup",
        "group", "add-mask", "stop-commands", "endgroup",
    ]  # fmt: skip
    assert result.unmasked_lines_before_first_mask == 0
    group, mask, stop = result.commands[1:4]
    assert group.data == "Cell c1 (code) [1/2]"
    assert mask.data == stop.data  # the token is masked before the fence uses it
    shown = "\n".join(result.shown)
    for needle in ("::add-mask::x", "::error::boom", "##[error]legacy", "::error::r"):
        assert needle in shown
    # the secret appears once: in its own ::add-mask:: line, which the runner never shows
    assert out.getvalue().count("tok3n-value") == 1
    assert "tok3n-value" not in shown
    assert "*** leaked?" in shown
    # the one-line status after the group quotes the evalue without obeying it
    assert any(line.startswith("✗ Cell c1: failed in 1.50 s: ValueError:") for line in result.shown)


def test_partial_lines_are_kept_together_for_scrubbing(make: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=False, secrets=["abcdef123"], stream=out, tty=False)
    log.on_cell_start("c", 0, 1)
    for chunk in ["token=abc", "def", "123 ok\nno newline at end"]:
        log.on_output("c", CellOutput("stream", name="stdout", text=chunk))
    log.on_cell_end(make.cell("c"))
    text = out.getvalue()
    assert "abcdef123" not in text
    assert text == (
        "[1/1] c: running\ntoken=*** ok\nno newline at end\n✓ Cell c: success in 12 ms\n"
    )


def test_outputs_for_another_cell_are_still_fenced(make: Any, runner: Any) -> None:
    out = io.StringIO()
    log = LiveLog(WorkflowCommands(out, github_actions=True))
    log.on_output("late", CellOutput("stream", name="stdout", text="::error::late\n"))
    log.close()
    log.close()  # idempotent
    result = runner(out.getvalue())
    assert [c.name for c in result.commands] == ["add-mask", "stop-commands"]
    assert "[late]" in result.shown and "::error::late" in result.shown


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tty_progress_line(make: Any) -> None:
    out = io.StringIO()
    clock = FakeClock()
    log = LiveLog(WorkflowCommands(out, github_actions=False), tty=True, clock=clock)
    clock.now += 5  # the run started 5 s before this cell
    log.on_cell_start(make.cell("a"), 0, 3)
    log.on_output("a", CellOutput("stream", name="stdout", text="hi\n"))
    clock.now += 2.5
    log.tick()
    log.on_cell_end(make.cell("a", duration_ms=2500))
    assert out.getvalue() == (
        "▶ [1/3] a running 0 ms · elapsed 5.00 s\r\x1b[K"
        "hi\n"
        "▶ [1/3] a running 0 ms · elapsed 5.00 s\r\x1b[K"
        "▶ [1/3] a running 2.50 s · elapsed 7.50 s\r\x1b[K"
        "\x1b[32m✓ Cell a: success in 2.50 s\x1b[0m\n"
    )


async def test_tty_progress_line_ticks_on_the_running_loop(make: Any) -> None:
    import asyncio

    redrawn = asyncio.Event()

    class Terminal(io.StringIO):
        def write(self, text: str) -> int:
            if self.getvalue().count("▶ [2/2] a running") >= 3:
                redrawn.set()  # drawn once by on_cell_start, then twice by the timer
            return super().write(text)

    out = Terminal()
    log = LiveLog(WorkflowCommands(out, github_actions=False), tty=True, tick_interval=0.001)
    log.on_cell_start(make.cell("a"), 1, 2)
    await asyncio.wait_for(redrawn.wait(), timeout=30)
    log.on_cell_end(make.cell("a"))
    assert log._timer is None  # cancelled with the cell: nothing is drawn after it
    assert out.getvalue().endswith("\r\x1b[K\x1b[32m✓ Cell a: success in 12 ms\x1b[0m\n")


def test_no_progress_line_when_not_a_tty_or_in_actions(make: Any) -> None:
    for github_actions in (False, True):
        out = io.StringIO()  # not a TTY
        log = LiveLog(WorkflowCommands(out, github_actions=github_actions))
        assert not log.tty
        log.on_cell_start(make.cell("a"), 0, 1)
        log.tick()
        log.on_cell_end(make.cell("a"))
        assert "\r" not in out.getvalue() and "▶" not in out.getvalue()
    assert not LiveLog(WorkflowCommands(io.StringIO(), github_actions=True), tty=True).tty


def _notice(kind: str, text: str) -> CellOutput:
    return CellOutput(
        "display_data",
        data={"text/plain": f"[output {kind}: {text}]"},
        metadata={"runt_action": {"kind": kind, "notice": text}},
    )


def test_notices_become_warnings_in_actions(make: Any, runner: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=True, stream=out)
    log.on_cell_start(make.cell("big"), 0, 1)
    log.on_output("big", CellOutput("stream", name="stdout", text="::error::partial"))
    log.on_output("big", _notice("truncated", "stdout cut at 64 MB ::error::x"))
    log.on_output("big", CellOutput("stream", name="stdout", text="::error::after\n"))
    log.on_output("big", _notice("bogus", "not a notice kind"))
    log.on_cell_end(make.cell("big"))
    result = runner(out.getvalue())
    warnings = result.obeyed("warning")
    assert [(w.props.get("title"), w.data) for w in warnings] == [
        ("Output truncated", "Cell big: stdout cut at 64 MB ::error::x")
    ]
    assert result.obeyed("error") == []  # output after the warning is fenced again
    shown = "\n".join(result.shown)
    assert "::error::partial" in shown and "::error::after" in shown
    assert [(n.cell_id, n.kind) for n in log.notices] == [("big", "truncated")]


def test_notices_are_plain_warning_lines_elsewhere(make: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False)
    log.on_cell_start(make.cell("c"), 0, 1)
    log.on_output("c", _notice("restarted", "the runtime was restarted"))
    log.on_output("c", _notice("dropped", "a 3 MB image/png was dropped"))
    log.on_cell_end(make.cell("c"))
    lines = out.getvalue().splitlines()
    assert "warning: Output restarted: Cell c: the runtime was restarted" in lines
    assert "warning: Output dropped: Cell c: a 3 MB image/png was dropped" in lines


def test_plain_mode_outside_actions(make: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False)
    _run_cell(log, make)
    text = out.getvalue()
    assert "[1/2] c1 (code): running\n::add-mask::x\n" in text
    assert "\x1b[K" not in text


def test_no_log_output_keeps_outputs_but_not_lines_or_notices(make: Any) -> None:
    """--no-log-output: the cell's start and end lines and its notices, no output text."""
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False, log_output=False)
    log.on_cell_start(make.cell("c"), 0, 1)
    log.on_output("c", CellOutput("stream", name="stdout", text="SECRET-ISH OUTPUT\n"))
    log.on_output("other", CellOutput("stream", name="stdout", text="LATE OUTPUT\n"))
    log.on_output("c", _notice("truncated", "stdout cut at 64 MB"))
    log.on_cell_end(make.cell("c"))
    text = out.getvalue()
    assert "OUTPUT" not in text and "[other]" not in text
    assert "[1/1] c (code): running" in text
    assert "warning: Output truncated: Cell c: stdout cut at 64 MB" in text
    assert [n.kind for n in log.notices] == ["truncated"]
