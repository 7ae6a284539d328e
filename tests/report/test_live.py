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


def test_tty_progress_line(make: Any) -> None:
    out = io.StringIO()
    log = LiveLog(WorkflowCommands(out, github_actions=False), tty=True)
    log.on_cell_start(make.cell("a"), 0, 3)
    log.on_output("a", CellOutput("stream", name="stdout", text="hi\n"))
    log.on_cell_end(make.cell("a", duration_ms=2500))
    text = out.getvalue()
    assert text.startswith("▶ [1/3] a (code) running…\r\x1b[Khi\n▶ [1/3] a running…")
    assert text.endswith("\r\x1b[K\x1b[32m✓ Cell a: success in 2.50 s\x1b[0m\n")
    assert "::" not in text


def test_plain_mode_outside_actions(make: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False)
    _run_cell(log, make)
    text = out.getvalue()
    assert "[1/2] c1 (code): running\n::add-mask::x\n" in text
    assert "\x1b[K" not in text
