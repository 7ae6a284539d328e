from __future__ import annotations

from pathlib import Path
from typing import Any

from runt_action.report.scrub import Scrubber
from runt_action.report.terminal import MAX_LISTED_FILES, render_terminal
from runt_action.results import CellOutput, CellStatus, RunStatus


def test_plain_table_then_first_error(sample_result: Any) -> None:
    lines = render_terminal(sample_result)
    assert lines[:7] == [
        "✗ Example: failed in 2.35 s (2 succeeded, 1 failed, 1 skipped; runtime pyodide)",
        "",
        "  #  Cell        Status      Time  Note",
        "  1  parameters  ✓ success  12 ms",
        "  2  compute     ✓ success  12 ms",
        "  3  explode     ✗ failed   12 ms  ValueError: boom",
        "  4  later       ↷ skipped  12 ms  after a failure",
    ]
    assert lines[7:11] == [
        "",
        "First error: cell explode at notebooks/example.yml:20",
        "  ValueError: boom",
        "  | ---------------------------------------------------------------",
    ]
    assert lines[-1] == "Live notebook: https://app.runt.run/?notebook=nb-123"
    text = "\n".join(lines)
    assert "\x1b" not in text and "intro" not in text  # no colour codes, no markdown rows


def test_nothing_is_markdown_escaped(make: Any) -> None:
    path = "/home/user/my_project/out-2026-12-01/report (1).ipynb"
    result = make.result(
        [
            make.cell(
                "load_data-1",
                CellStatus.FAILED,
                line=4,
                attempts=3,
                outputs=[make.error("KeyError", '"missing" <key> & *stars*')],
            )
        ],
        notebook_url=None,
        title="Report: 2026-12-01 *draft*",
        artifacts={"ipynb": path},
    )
    text = "\n".join(render_terminal(result))
    assert "Report: 2026-12-01 *draft*" in text
    assert "  #  Cell         Status     Time  Attempts  Note" in text
    row = '  1  load_data-1  ✗ failed  12 ms         3  KeyError: "missing" <key> & *stars*'
    assert row in text
    assert text.endswith(f"Files written:\n  Executed notebook (.ipynb)  {path}")
    assert "\\" not in text and "&quot;" not in text and "&lt;" not in text


def test_output_directories_are_listed_file_by_file(make: Any, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    out.mkdir()
    for i in range(MAX_LISTED_FILES + 3):
        (out / f"f{i:02d}.csv").write_text("x")
    result = make.result([make.cell("a")], artifacts={"outputs": str(out)})
    lines = render_terminal(result)
    start = lines.index("Files written:")
    listed = lines[start + 1 :]
    assert listed[0] == f"  Output files  {out}/"
    assert listed[1] == f"                {out}/f00.csv"
    assert len(listed) == 1 + MAX_LISTED_FILES + 1
    assert listed[-1] == f"                … and 3 more in {out}"


def test_hostile_text_cannot_reach_the_terminal(make: Any) -> None:
    evil = "\x1b]0;title\x07\x1b[31mred\rover\nnext"
    result = make.result(
        [
            make.cell(
                f"id{evil}",
                CellStatus.FAILED,
                outputs=[CellOutput("stream", name="stdout", text=evil), make.error("E", evil)],
            )
        ],
        title=evil,
        error=evil,
        status=RunStatus.ERROR,
    )
    for line in render_terminal(result):
        assert "\x1b" not in line and "\r" not in line and "\n" not in line and "\x07" not in line


def test_secrets_are_scrubbed(make: Any) -> None:
    secret = "hunter2-secret"
    result = make.result(
        [make.cell(secret, CellStatus.FAILED, reason=secret, outputs=[make.error("E", secret)])],
        title=secret,
        artifacts={"ipynb": f"/tmp/{secret}.ipynb"},
        notebook_url=None,
    )
    text = "\n".join(render_terminal(result, scrubber=Scrubber([secret])))
    assert secret not in text and "***" in text
