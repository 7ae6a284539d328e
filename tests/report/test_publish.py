from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import nbformat as _nbformat
import pytest

from runt_action.report import publish
from runt_action.results import CellOutput, CellStatus, RunStatus

SECRET = "sk-live-<&>|`*_9f8e7d"

nbformat: Any = _nbformat  # untyped library


def _leaky_result(make: Any) -> Any:
    """A run where the secret shows up everywhere a notebook could put it."""
    cells = [
        make.cell(
            f"print-{SECRET}",
            source=f"print('{SECRET}')",
            reason=SECRET,
            outputs=[
                CellOutput("stream", name="stdout", text=f"token={SECRET[:7]}"),
                CellOutput("stream", name="stdout", text=f"{SECRET[7:]}\n"),
                CellOutput("display_data", data={"text/plain": SECRET, "text/html": SECRET}),
            ],
        ),
        make.cell(
            "fail",
            CellStatus.FAILED,
            line=9,
            outputs=[make.error("KeyError", SECRET)],
        ),
    ]
    return make.result(
        cells,
        title=f"Nightly {SECRET}",
        parameters={"token": SECRET},  # as if the orchestrator forgot to mask it
        error=SECRET,
        status=RunStatus.FAILED,
        notebook_url=f"https://app.runt.run/?notebook={SECRET}",
        timings={SECRET: 1.0},
    )


def test_publish_in_actions_never_leaks(
    make: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: Any,
    github_output_parser: Any,
) -> None:  # fmt: skip
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    ipynb = tmp_path / "executed.ipynb"
    stdout = io.StringIO()
    publish(
        _leaky_result(make),
        summary_path=None,
        output_path=None,
        ipynb_path=ipynb,
        github_actions=True,
        secrets=[SECRET],
        stream=stdout,
    )
    for path in (summary, output, ipynb):
        text = path.read_text()
        assert text, path
        for piece in (SECRET, SECRET[:7] + SECRET[7:], "9f8e7d"):
            assert piece not in text, path
    log = runner(stdout.getvalue())
    assert log.unmasked_lines_before_first_mask == 0
    assert log.masks[0] == SECRET
    assert stdout.getvalue().count(SECRET) == 1  # only inside its own ::add-mask::
    errors = log.obeyed("error")
    assert [e.props.get("title") for e in errors] == ["Cell fail failed", "Run failed"]
    assert errors[0].data == "KeyError: ***"
    assert github_output_parser(output.read_text())["status"] == "failed"
    nbformat.validate(nbformat.read(ipynb, as_version=4))


def test_publish_outside_actions_prints_the_summary(make: Any, sample_result: Any) -> None:
    stdout = io.StringIO()
    publish(
        sample_result,
        summary_path=None,
        output_path=None,
        ipynb_path=None,
        github_actions=False,
        secrets=[],
        stream=stdout,
    )
    text = stdout.getvalue()
    assert text.startswith("## ❌ Example\n")
    assert "::" not in text.replace("\\:", "")


def test_summary_file_is_replaced_outside_actions(sample_result: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text("old")
    stdout = io.StringIO()
    publish(
        sample_result,
        summary_path=path,
        output_path=None,
        ipynb_path=None,
        github_actions=False,
        secrets=(),
        stream=stdout,
    )
    assert path.read_text().startswith("## ❌ Example")
    assert stdout.getvalue() == ""


def test_one_failing_part_does_not_stop_the_others(
    sample_result: Any, tmp_path: Path, runner: Any
) -> None:
    blocked = tmp_path / "a-directory.ipynb"
    blocked.mkdir()
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    stdout = io.StringIO()
    publish(
        sample_result,
        summary_path=summary,
        output_path=output,
        ipynb_path=blocked,
        github_actions=True,
        secrets=[],
        stream=stdout,
    )
    assert summary.read_text().startswith("## ❌ Example")
    assert "status<<" in output.read_text()
    warning = runner(stdout.getvalue()).obeyed("warning")[0]
    assert warning.data.startswith("could not write the executed notebook")


def test_summary_budget_counts_what_the_step_already_wrote(make: Any, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("x" * 5000)
    cells = [
        make.cell(f"c{i}", outputs=[CellOutput("stream", name="stdout", text="y\n" * 2000)])
        for i in range(10)
    ]
    publish(
        make.result(cells),
        summary_path=summary,
        output_path=None,
        ipynb_path=None,
        github_actions=True,
        secrets=[],
        stream=io.StringIO(),
        summary_limit=20_000,
    )
    assert 5000 < summary.stat().st_size <= 20_000
