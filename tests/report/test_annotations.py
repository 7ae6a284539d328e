from __future__ import annotations

import io
from typing import Any

from runt_action.report.annotations import annotate
from runt_action.report.commands import WorkflowCommands
from runt_action.results import CellStatus


def test_failed_cell_annotation_points_at_the_yaml(sample_result: Any, runner: Any) -> None:
    out = io.StringIO()
    assert annotate(WorkflowCommands(out, github_actions=True), sample_result) == 1
    (cmd,) = runner(out.getvalue()).commands
    assert cmd.name == "error"
    assert cmd.props == {
        "file": "notebooks/example.yml",
        "line": "20",
        "title": "Cell explode failed",
    }
    assert cmd.data == "ValueError: boom"


def test_at_most_ten_plus_a_notice(make: Any, runner: Any) -> None:
    cells = [
        make.cell(f"c,{i}:x", CellStatus.FAILED, line=i + 1, outputs=[make.error("E", f"{i}%\n")])
        for i in range(15)
    ]
    result = make.result(cells, source_file="dir,1/nb:x.yml")
    out = io.StringIO()
    assert annotate(WorkflowCommands(out, github_actions=True), result) == 10
    log = runner(out.getvalue())
    errors = log.obeyed("error")
    assert len(errors) == 10
    assert [e.props["line"] for e in errors] == [str(i + 1) for i in range(10)]
    assert errors[3].props["title"] == "Cell c,3:x failed"
    assert errors[3].props["file"] == "dir,1/nb:x.yml"
    assert errors[3].data == "E: 3%\n"
    (notice,) = log.obeyed("notice")
    assert notice.data.startswith("5 more failed cells")


def test_timeouts_and_run_errors(make: Any, runner: Any) -> None:
    result = make.result(
        [make.cell("slow", CellStatus.TIMEOUT, line=4, reason="cell timeout (600 s) expired")],
        error="::error::the sync server went away",
    )
    out = io.StringIO()
    annotate(WorkflowCommands(out, github_actions=True), result)
    first, second = runner(out.getvalue()).commands
    assert (first.props["title"], first.data) == (
        "Cell slow timed out",
        "cell timeout (600 s) expired",
    )
    assert second.data == "::error::the sync server went away"
    assert second.props["title"] == "Run failed"


def test_a_cell_no_runtime_could_run_is_a_warning_at_its_line() -> None:
    from runt_action.results import CellResult, RunResult, RunStatus

    cell = CellResult(
        "q",
        "sql",
        "select 1",
        CellStatus.SKIPPED,
        line=7,
        reason="no runtime here can execute sql cells",
    )
    result = RunResult(
        "nb",
        None,
        "t",
        "nb.yml",
        RunStatus.SUCCESS,
        [cell],
        {},
        1.0,
        "python",
        "2026-12-01T00:00:00Z",
    )
    out = io.StringIO()
    annotate(WorkflowCommands(out, github_actions=True), result)
    assert out.getvalue().startswith("::warning file=nb.yml,line=7,title=Cell q skipped::")
