"""A traceback's line in ``<cell ID>`` mapped to the YAML file's line (both runtimes)."""

from __future__ import annotations

from runt_action.notebook import parse_notebook
from runt_action.report.annotations import error_line, traceback_line
from runt_action.results import CellOutput, CellResult, CellStatus

YAML = """\
cells:
  - id: block
    source: |
      x = 1

      y = x / 0
  - id: plain
    source: 1 / 0
  - id: folded
    source: >
      1 / 0
"""

NATIVE = [
    "ZeroDivisionError                         Traceback (most recent call last)",
    'File "<cell block>", line 3',
    "----> 3 y = x / 0",
]
PYODIDE = [
    "Traceback (most recent call last):",
    '  File "<cell block>", line 1, in <module>',
    '  File "<cell other>", line 9, in helper',
    '  File "<cell block>", line 3, in f',
]


def _failed(
    cell_id: str, source: str, line: int, source_line: int | None, tb: list[str]
) -> CellResult:
    error = CellOutput("error", ename="ZeroDivisionError", evalue="x", traceback=tb)
    return CellResult(
        cell_id, "code", source, CellStatus.FAILED, line=line, source_line=source_line,
        outputs=[error],
    )  # fmt: skip


def test_source_line_is_known_for_literal_blocks_only() -> None:
    cells = parse_notebook(YAML, "nb.yml").cells
    assert [(c.id, c.line, c.source_line) for c in cells] == [
        ("block", 2, 4),
        ("plain", 7, 0),
        ("folded", 9, 0),
    ]


def test_traceback_line_is_the_innermost_frame_of_that_cell() -> None:
    assert traceback_line("block", NATIVE) == 3
    assert traceback_line("block", PYODIDE) == 3
    assert traceback_line("other", PYODIDE) == 9
    assert traceback_line("missing", PYODIDE) is None


def test_error_line_maps_into_the_file_or_falls_back_to_the_cell() -> None:
    source = "x = 1\n\ny = x / 0\n"
    assert error_line(_failed("block", source, 2, 4, NATIVE)) == 6
    assert error_line(_failed("block", source, 2, None, NATIVE)) == 2  # lines do not map
    assert error_line(_failed("block", source, 2, 4, ["no frame here"])) == 2
    assert error_line(_failed("block", "x", 2, 4, NATIVE)) == 2  # beyond the source: not ours


def test_a_jupyter_inputs_error_is_placed_in_its_cell_never_line_0() -> None:
    """An .ipynb cell has no YAML line: the report names the line in the cell (from the
    traceback), and never shows "line 0"."""
    from runt_action.report.html import render_html
    from runt_action.results import CellOutput, CellResult, CellStatus, RunResult, RunStatus

    error = CellOutput(
        "error",
        ename="ValueError",
        evalue="2",
        traceback=['File "<cell a>", line 3, in <module>', "ValueError: 2"],
    )
    cell = CellResult("a", "code", "x = 1\ny = 2\nraise ValueError(y)", CellStatus.FAILED,
                      line=0, source_line=40, outputs=[error])  # fmt: skip
    result = RunResult("n", None, "t", "nb.ipynb", RunStatus.FAILED, [cell], {}, 1.0, "python",
                       "s", ipynb_input=True)  # fmt: skip
    html = render_html(result)
    assert "(line 3 of the cell)" in html
    assert "line 0" not in html
    assert error_line(cell) == 42  # the annotation: the file line of the cell's line 3
