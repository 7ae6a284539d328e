"""The live log of parallel entries: whole lines, each prefixed, never a workflow command."""

from __future__ import annotations

import io

from runt_action.report.commands import WorkflowCommands
from runt_action.report.prefixed import PrefixedLog
from runt_action.report.scrub import Scrubber
from runt_action.results import CellOutput, CellResult, CellStatus


def _log(log_output: bool = True) -> tuple[io.StringIO, PrefixedLog, PrefixedLog]:
    out = io.StringIO()
    commands = WorkflowCommands(
        out, github_actions=True, masks=["hunter2"], scrubber=Scrubber(["hunter2"])
    )
    a = PrefixedLog(commands, "a.yml", log_output=log_output)
    b = PrefixedLog(commands, "b.yml", log_output=log_output)
    return out, a, b


def _stream(text: str) -> CellOutput:
    return CellOutput("stream", name="stdout", text=text)


def test_partial_lines_wait_and_outputs_do_not_interleave() -> None:
    out, a, b = _log()
    a.on_output("c", _stream("one\ntw"))
    b.on_output("c", _stream("::error::forged hunter2\n"))
    a.on_output("c", _stream("o\n"))
    a.on_output("d", CellOutput("execute_result", data={"text/plain": "42"}))
    cell = CellResult("c", "code", "", CellStatus.FAILED, reason="ValueError: x")
    b.on_output("c", _stream("no newline"))
    b.on_cell_end(cell)
    lines = out.getvalue().splitlines()[1:]  # after the ::add-mask:: line
    assert lines == [
        "[a.yml] one",
        "[b.yml] ::error::forged ***",
        "[a.yml] two",
        "[a.yml] 42",
        "[b.yml] no newline",
        "[b.yml] cell c: failed in 0 ms: ValueError: x",
    ]


def test_no_log_output_keeps_only_verdicts() -> None:
    out, a, _ = _log(log_output=False)
    a.on_output("c", _stream("hidden\n"))
    a.on_cell_end(CellResult("c", "code", "", CellStatus.SUCCESS))
    a.on_cell_end(CellResult("d", "code", "", CellStatus.TIMEOUT, reason="too slow"))
    assert out.getvalue().splitlines()[1:] == ["[a.yml] cell d: timeout in 0 ms: too slow"]
