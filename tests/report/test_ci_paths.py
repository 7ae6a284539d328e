"""Issue #22 item 3: paths and advice that fit CI (workspace-relative paths, upload-artifact
instead of --view, host paths mapped or refused, notebook headings below the summary's)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runt_action.errors import UsageError
from runt_action.orchestrator.session import _embedded_note
from runt_action.report.commands import WorkflowCommands
from runt_action.report.summary import demote_headings, render_summary
from runt_action.report.terminal import render_terminal
from runt_action.results import CellStatus
from runt_action.settings import load_settings
from runt_action.workspace import HostPathError, map_host_path, workspace_relative
from tests.report.conftest import make_cell, make_result


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with notebooks/x.yml, as the container sees it (cwd = the workspace)."""
    root = tmp_path / "workspace"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "x.yml").write_text("cells: []\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
    monkeypatch.delenv("RUNNER_WORKSPACE", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    return root


# -- workspace-relative paths ------------------------------------------------------------------
@pytest.mark.parametrize(
    "given",
    ["notebooks/x.yml", "./notebooks/x.yml", "{ws}/notebooks/x.yml", "{ws}/./notebooks/x.yml"],
)
def test_paths_inside_the_workspace_are_relative(ws: Path, given: str) -> None:
    assert workspace_relative(given.format(ws=ws)) == "notebooks/x.yml"


def test_paths_outside_the_workspace_stay_absolute(ws: Path) -> None:
    assert workspace_relative("/tmp/elsewhere/r.ipynb") == "/tmp/elsewhere/r.ipynb"
    assert workspace_relative(str(ws.parent / "sibling.yml")) == str(ws.parent / "sibling.yml")


def test_without_a_workspace_only_dot_slash_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    assert workspace_relative("./a/b.yml") == "a/b.yml"
    assert workspace_relative("/abs/b.yml") == "/abs/b.yml"


@pytest.mark.parametrize("given", ["notebooks/x.yml", "./notebooks/x.yml", "{ws}/notebooks/x.yml"])
def test_annotations_name_the_file_relative_to_the_workspace(
    ws: Path, given: str, runner: Any
) -> None:
    out = io.StringIO()
    commands = WorkflowCommands(out, github_actions=True)
    commands.error("boom", file=given.format(ws=ws), line=3, title="Cell x failed")
    commands.warning("w", file=str(ws / "runt-output" / "x.html"))
    log = runner(out.getvalue())
    errors, warnings = log.obeyed("error"), log.obeyed("warning")
    assert errors[0].props["file"] == "notebooks/x.yml" and errors[0].props["line"] == "3"
    assert warnings[0].props["file"] == "runt-output/x.html"


# -- host paths ----------------------------------------------------------------------------------
def test_a_host_path_of_the_workspace_is_mapped_by_runner_workspace(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_WORKSPACE", "/home/runner/work/repo")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    host = Path("/home/runner/work/repo/repo/notebooks/x.yml")
    assert map_host_path(host) == Path("notebooks/x.yml")


def test_a_host_path_is_mapped_by_its_existing_suffix(ws: Path) -> None:
    assert map_host_path(Path("/srv/ci/work/r/r/notebooks/x.yml")) == Path("notebooks/x.yml")


def test_an_unmappable_absolute_path_is_refused_with_a_hint(ws: Path) -> None:
    with pytest.raises(HostPathError) as info:
        map_host_path(Path("/home/runner/work/repo/repo/notebooks/missing.yml"))
    message = str(info.value)
    assert "\n" not in message and "use a path relative to the workspace" in message
    assert "notebooks/missing.yml" in message.split("e.g.")[-1]


def test_existing_relative_and_inside_paths_are_left_alone(ws: Path) -> None:
    for given in (Path("notebooks/x.yml"), ws / "notebooks" / "x.yml", ws / "nope.yml"):
        assert map_host_path(given) == given
    assert map_host_path(Path("/abs/nope.yml"), environ={}) == Path("/abs/nope.yml")


def test_settings_map_the_notebook_or_refuse_it(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNNER_WORKSPACE", "/home/runner/work/repo")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    settings = load_settings(notebook=Path("/home/runner/work/repo/repo/notebooks/x.yml"))
    assert settings.notebook == Path("notebooks/x.yml")
    assert "runner's path of the workspace" in capsys.readouterr().err
    with pytest.raises(UsageError, match="use a path relative to the workspace") as info:
        load_settings(notebook=Path("/home/runner/work/repo/repo/gone.yml"))
    assert info.value.exit_code == 2


# -- summary and log --------------------------------------------------------------------------
def _embedded_result(ws: Path) -> Any:
    out = ws / "runt-output"
    out.mkdir(exist_ok=True)
    (out / "x.html").write_text("<html></html>")
    (out / "x.ipynb").write_text("{}")
    return make_result(
        [make_cell("a")],
        notebook_url=None,
        source_file="notebooks/x.yml",
        artifacts={"html": str(out / "x.html"), "ipynb": str(out / "x.ipynb")},
    )


def test_summary_names_workspace_paths_and_an_upload_step(ws: Path) -> None:
    text = render_summary(_embedded_result(ws), github_actions=True)
    assert "/github/workspace" not in text and str(ws) not in text
    assert "`runt-output/x.html`" in text and "`runt-output/x.ipynb`" in text
    assert "```yaml\n- uses: actions/upload-artifact@v4\n  if: always()\n" in text
    assert "    path: |\n      runt-output/x.html\n      runt-output/x.ipynb\n```" in text
    assert "--view" not in text


def test_summary_outside_actions_keeps_absolute_paths(ws: Path) -> None:
    text = render_summary(_embedded_result(ws))
    assert str(ws / "runt-output" / "x.html") in text.replace("\\", "")
    assert "upload-artifact@v4" not in text


def test_terminal_report_under_actions_lists_relative_paths_and_the_step(ws: Path) -> None:
    lines = render_terminal(_embedded_result(ws), github_actions=True)
    text = "\n".join(lines)
    assert "runt-output/x.html" in text and str(ws) not in text
    assert "- uses: actions/upload-artifact@v4" in text
    plain = "\n".join(render_terminal(_embedded_result(ws)))
    assert str(ws / "runt-output" / "x.html") in plain and "upload-artifact@v4" not in plain


def test_the_embedded_note_under_actions_advises_upload_artifact_not_view(ws: Path) -> None:
    plan = SimpleNamespace(
        sync_log=None,
        html_path=ws / "runt-output" / "x.html",
        ipynb_path=ws / "runt-output" / "x.ipynb",
        github_actions=True,
    )
    note = _embedded_note(plan, "nb1")  # type: ignore[arg-type]
    assert "runt-output/x.html" in note and "upload-artifact" in note and "--view" not in note
    assert str(ws) not in note
    local = _embedded_note(SimpleNamespace(**{**vars(plan), "github_actions": False}), "nb1")  # type: ignore[arg-type]
    assert "--view" in local


# -- headings -----------------------------------------------------------------------------------
def test_notebook_headings_go_below_the_summarys_own(render_md: Any) -> None:
    cells = [
        make_cell(
            "md",
            cell_type="markdown",
            status=CellStatus.NOT_EXECUTED,
            source="# Sales\n\n## By region\n\nTotal\n=====\n\n```\n# a comment\n```\n",
        ),
        make_cell("a"),
    ]
    html = render_md(render_summary(make_result(cells)))
    assert "<h1>" not in html
    assert "<h4>Sales</h4>" in html and "<h5>By region</h5>" in html and "<h4>Total</h4>" in html
    assert "# a comment" in html  # code is left alone


def test_demote_headings_caps_at_six_and_keeps_containers() -> None:
    assert demote_headings("#### Deep\n") == "###### Deep\n"
    assert demote_headings("> # Quoted") == "> #### Quoted"
    assert demote_headings("#hashtag, not a heading") == "#hashtag, not a heading"
    assert demote_headings("plain text") == "plain text"


def test_the_ipynb_keeps_the_headings() -> None:
    from runt_action.report.ipynb import build_notebook

    cell = make_cell("md", cell_type="markdown", status=CellStatus.NOT_EXECUTED, source="# T")
    nb = build_notebook(make_result([cell]))
    assert any("".join(c["source"]) == "# T" for c in nb["cells"])
