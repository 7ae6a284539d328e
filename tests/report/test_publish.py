from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import nbformat as _nbformat
import pytest

from runt_action.errors import NotebookError, OutputWriteError, UsageError
from runt_action.report import publish, publish_input_error
from runt_action.report.files import write_file
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


def test_publish_outside_actions_prints_a_plain_report(sample_result: Any, tmp_path: Path) -> None:
    stdout = io.StringIO()
    ipynb = tmp_path / "out dir" / "example.ipynb"
    outputs = tmp_path / "files"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "sub" / "data.csv").write_text("a,b\n")
    sample_result.artifacts = {"outputs": str(outputs)}
    publish(
        sample_result,
        summary_path=None,
        output_path=None,
        ipynb_path=ipynb,
        github_actions=False,
        secrets=[],
        stream=stdout,
    )
    text = stdout.getvalue()
    assert text.startswith("\n✗ Example: failed in 2.35 s (2 succeeded, 1 failed, 1 skipped;")
    assert "\\" not in text and "&quot;" not in text and "**" not in text  # no markdown
    assert "\x1b" not in text and "::" not in text
    lines = text.splitlines()
    assert lines[-4:] == [
        "Files written:",
        f"  Executed notebook (.ipynb)  {ipynb}",
        f"  Output files                {outputs}/",
        f"                              {outputs}/sub/data.csv",
    ]
    assert ipynb.is_file()


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
    assert stdout.getvalue().splitlines()[-2:] == ["Files written:", f"  Summary  {path}"]


def test_failing_parts_raise_after_every_other_part_is_written(
    sample_result: Any, tmp_path: Path, runner: Any
) -> None:
    blocked = tmp_path / "a-directory.ipynb"
    blocked.mkdir()
    html_dir = tmp_path / "report.html"
    html_dir.mkdir()
    html_ok = tmp_path / "ok.html"
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    stdout = io.StringIO()

    def write_html(path: Path) -> None:
        write_file(path, "<html></html>")

    with pytest.raises(OutputWriteError) as caught:
        publish(
            sample_result,
            summary_path=summary,
            output_path=output,
            ipynb_path=blocked,
            github_actions=True,
            secrets=[],
            stream=stdout,
            extra_files={"html": (html_dir, write_html), "page": (html_ok, write_html)},
        )
    assert caught.value.exit_code == 3
    lines = str(caught.value).splitlines()
    assert lines == [
        f"could not write the executed notebook to {blocked}: IsADirectoryError: "
        f"[Errno 21] a directory, not replaced: '{blocked}'",
        f"could not write the HTML report to {html_dir}: IsADirectoryError: "
        f"[Errno 21] a directory, not replaced: '{html_dir}'",
    ]
    assert html_ok.read_text() == "<html></html>"
    text = summary.read_text()
    assert text.startswith("## ❌ Example") and "### ⚠️ Not written" in text
    assert "a\\-directory\\.ipynb" in text  # named in the summary too
    assert "status<<" in output.read_text()
    log = runner(stdout.getvalue())
    errors = [e for e in log.obeyed("error") if e.props.get("title") == "Not written"]
    assert [e.data for e in errors] == lines
    assert "Not written:" in log.shown
    assert f"  page  {html_ok}" in log.shown  # the plain report lists what was written


def test_no_error_when_everything_is_written(sample_result: Any, tmp_path: Path) -> None:
    publish(
        sample_result,
        summary_path=tmp_path / "s.md",
        output_path=None,
        ipynb_path=tmp_path / "n.ipynb",
        github_actions=False,
        secrets=[],
        stream=io.StringIO(),
    )
    assert (tmp_path / "s.md").is_file() and (tmp_path / "n.ipynb").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_results_written_to_a_device_node_leave_it_a_device(
    sample_result: Any, tmp_path: Path
) -> None:
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for kind in ("summary", "ipynb"):
        publish(
            sample_result,
            summary_path=device if kind == "summary" else None,
            output_path=None,
            ipynb_path=device if kind == "ipynb" else None,
            github_actions=False,
            secrets=[],
            stream=io.StringIO(),
        )
        assert stat.S_ISCHR(device.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


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


def _notebook_error() -> NotebookError:
    return NotebookError("unknown key 'sourc'", file="notebooks/bad.yml", line=7, column=5)


def test_input_error_in_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: Any, github_output_parser: Any
) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    stdout = io.StringIO()
    publish_input_error(
        _notebook_error(),
        notebook="notebooks/bad.yml",
        summary_path=None,
        output_path=None,
        github_actions=True,
        stream=stdout,
    )
    text = summary.read_text()
    assert text.startswith("## ⚠️ Invalid input in notebooks\\/bad\\.yml\n")
    assert "notebooks/bad.yml:7:5: unknown key 'sourc'" in text
    outputs = github_output_parser(output.read_text())
    assert outputs == {"status": "invalid"}
    log = runner(stdout.getvalue())
    [error] = log.obeyed("error")
    assert error.props == {
        "file": "notebooks/bad.yml",
        "line": "7",
        "col": "5",
        "title": "Invalid input",
    }
    assert error.data == "unknown key 'sourc'"


def test_input_error_without_a_location_and_with_a_secret(tmp_path: Path, runner: Any) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    stdout = io.StringIO()
    publish_input_error(
        UsageError("--runtime none needs --sync-url (token s3cr3t-value)"),
        notebook="nb.yml",
        summary_path=summary,
        output_path=output,
        github_actions=True,
        stream=stdout,
        secrets=["s3cr3t-value"],
    )
    [error] = runner(stdout.getvalue()).obeyed("error")
    assert error.props == {"file": "nb.yml", "title": "Invalid input"}
    for path in (summary, output):
        assert "s3cr3t-value" not in path.read_text()
    assert "status<<" in output.read_text()


def test_input_error_outside_actions_writes_only_an_explicit_summary(tmp_path: Path) -> None:
    stdout = io.StringIO()
    publish_input_error(
        _notebook_error(),
        notebook="notebooks/bad.yml",
        summary_path=None,
        output_path=tmp_path / "never",
        github_actions=False,
        stream=stdout,
    )
    assert stdout.getvalue() == "" and list(tmp_path.iterdir()) == []
    summary = tmp_path / "s.md"
    publish_input_error(
        _notebook_error(),
        notebook=None,
        summary_path=summary,
        output_path=None,
        github_actions=False,
        stream=stdout,
    )
    assert "Invalid input" in summary.read_text() and stdout.getvalue() == ""


def test_input_error_summary_that_cannot_be_written_is_a_warning(
    tmp_path: Path, runner: Any
) -> None:
    stdout = io.StringIO()
    publish_input_error(
        _notebook_error(),
        notebook="notebooks/bad.yml",
        summary_path=tmp_path,  # a directory
        output_path=None,
        github_actions=True,
        stream=stdout,
    )
    log = runner(stdout.getvalue())
    assert log.obeyed("warning")[0].data.startswith("could not write the job summary")
    assert len(log.obeyed("error")) == 1


def test_unwritable_step_outputs_keep_the_output_dir_listed(
    sample_result: Any, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    sample_result.artifacts = {"outputs": str(files)}
    stdout = io.StringIO()
    with pytest.raises(OutputWriteError, match=r"^could not write the step outputs to "):
        publish(
            sample_result,
            summary_path=None,
            output_path=tmp_path,  # a directory
            ipynb_path=None,
            github_actions=False,
            secrets=[],
            stream=stdout,
        )
    assert stdout.getvalue().splitlines()[-2:] == ["Files written:", f"  Output files  {files}/"]
