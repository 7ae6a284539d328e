"""Issue 21: a papermill user's .ipynb comes back as papermill would return it (python
runtime, the CLI end to end): metadata kept, papermill's record, what nbformat accepts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest


def _code(cell_id: str, source: str, **metadata: Any) -> Any:
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = cell_id
    cell.metadata.update(metadata)
    return cell


def _write(path: Path, cells: list[Any], **metadata: Any) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(metadata)
    nb.cells = cells
    text = nbformat.writes(nb)
    data = json.loads(text)
    for cell in data["cells"]:  # what a hand-written or old tool's notebook may lack
        if cell.get("metadata", {}).pop("drop_execution_count", False):
            del cell["execution_count"]
    path.write_text(json.dumps(data, indent=1))
    return path


def _papermill_user_notebook(path: Path) -> Path:
    intro = nbformat.v4.new_markdown_cell("# Report")
    intro["id"] = "intro"
    intro.metadata.update(jupyter={"source_hidden": True}, tags=["remove-cell"])
    return _write(
        path,
        [
            intro,
            _code(
                "params",
                "a = 1\nlabel = 'x'\n",
                tags=["parameters"],
                papermill={"status": "failed", "exception": True},  # an old run's record
            ),
            _code(
                "show",
                "print('a is', a, label, len(token))",
                collapsed=True,
                scrolled=True,
                tags=["custom"],
                myext={"k": [1, 2]},
                execution={"shell.execute_reply": "2000-01-01T00:00:00Z"},
                runt={"timeout": 30, "status": "failed", "reason": "stale"},
            ),
            _code("blank", "  \n", drop_execution_count=True),
            _code("tolerated", "1 / 0", tags=["raises-exception"]),
            _code("skipped", "print('SHOULD-NOT-RUN')", tags=["skip-execution"]),
        ],
        kernelspec={"name": "python3", "display_name": "Mine", "language": "python"},
        language_info={"name": "python", "version": "3.99"},
        papermill={"parameters": {"stale": 1}, "version": "2.4.0"},
        myext={"kept": True},
    )


async def test_a_papermill_notebook_comes_back_as_papermill_returns_it(
    cli: Any, tmp_path: Path
) -> None:
    nb = _papermill_user_notebook(tmp_path / "in.ipynb")
    env = {"TOKEN_VALUE": "hunter2-secret"}
    run = await cli(
        tmp_path,
        nb,
        "--runtime",
        "python",
        "-p",
        "a",
        "5",
        "--secret-parameter",
        "token=TOKEN_VALUE",
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "a is 5 x 14" in run.stdout
    out = run.ipynb
    assert out is not None
    nbformat.validate(nbformat.from_dict(out))
    assert "hunter2-secret" not in json.dumps(out)

    meta = out["metadata"]
    assert meta["kernelspec"]["display_name"] == "Mine" and meta["myext"] == {"kept": True}
    # language_info refreshed from the runtime (this interpreter's ipykernel)
    assert meta["language_info"]["version"] == sys.version.split()[0]
    record = meta["papermill"]
    assert record["parameters"] == {"a": 5, "token": "***"}  # given only; the secret masked
    assert record["default_parameters"] == {"a": 1, "label": "x"}
    assert record["input_path"] == str(nb) and record["output_path"].endswith("executed.ipynb")
    assert record["environment_variables"] == {} and record["exception"] is False
    assert record["start_time"] and record["end_time"] and record["duration"] > 0
    assert "stale" not in record["parameters"] and "title" not in meta

    cells = {c["id"]: c for c in out["cells"]}
    assert list(cells) == ["intro", "params", "parameters", "show", "blank", "tolerated", "skipped"]
    assert cells["intro"]["metadata"]["jupyter"] == {"source_hidden": True}
    assert cells["intro"]["metadata"]["tags"] == ["remove-cell"]
    assert cells["params"]["metadata"]["tags"] == ["parameters"]
    assert cells["parameters"]["metadata"]["tags"] == ["injected-parameters"]
    show = cells["show"]["metadata"]
    assert (show["collapsed"], show["scrolled"], show["tags"]) == (True, True, ["custom"])
    assert show["myext"] == {"k": [1, 2]} and show["runt"]["timeout"] == 30
    assert show["runt"]["status"] == "success" and "reason" not in show["runt"]
    assert show["execution"]["shell.execute_reply"] != "2000-01-01T00:00:00Z"
    assert cells["blank"]["execution_count"] is None  # empty: never numbered
    assert [cells[i]["execution_count"] for i in ("params", "parameters", "show")] == [1, 2, 3]
    states = {k: c["metadata"]["papermill"]["status"] for k, c in cells.items()}
    assert states == {
        "intro": "completed",
        "params": "completed",
        "parameters": "completed",
        "show": "completed",
        "blank": "completed",
        "tolerated": "completed",
        "skipped": "pending",
    }
    assert cells["params"]["metadata"]["papermill"]["exception"] is False  # the old one replaced

    # Our own output, run again, behaves the same and keeps the same metadata.
    (tmp_path / "again").mkdir()
    again = await cli(
        tmp_path / "again",
        tmp_path / "executed.ipynb",
        "--runtime",
        "python",
        "--secret-parameter",
        "token=TOKEN_VALUE",
        env=env,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "a is 5 x 14" in again.stdout  # the earlier run's injected values stay
    assert again.ipynb is not None
    second = {c["id"]: c for c in again.ipynb["cells"]}
    assert list(second) == list(cells)
    ours = ("papermill", "execution", "runt")
    for cell_id, cell in cells.items():
        before = {k: v for k, v in cell["metadata"].items() if k not in ours}
        after = {k: v for k, v in second[cell_id]["metadata"].items() if k not in ours}
        assert before == after, cell_id
    assert again.ipynb["metadata"]["papermill"]["parameters"] == {"token": "***"}
    assert {r["id"]: r["status"] for r in again.results} == {
        r["id"]: r["status"] for r in run.results
    }


async def test_a_notebook_without_cells_runs(cli: Any, tmp_path: Path) -> None:
    nb = _write(tmp_path / "empty.ipynb", [], language_info={"name": "python"})
    run = await cli(tmp_path, nb, "--runtime", "python")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ipynb is not None and run.ipynb["cells"] == []
    nbformat.validate(nbformat.from_dict(run.ipynb))
    assert run.ipynb["metadata"]["papermill"]["exception"] is False
    assert "no code cells" in run.summary


async def test_papermill_reads_and_reruns_our_output(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("papermill")  # the bench extra
    import papermill

    nb = _write(
        tmp_path / "pm.ipynb",
        [_code("params", "a = 1\n", tags=["parameters"]), _code("use", "b = a * 2")],
    )
    run = await cli(tmp_path, nb, "--runtime", "python", "-p", "a", "3")
    assert run.returncode == 0, run.stderr[-3000:]
    ours = tmp_path / "executed.ipynb"
    assert papermill.inspect_notebook(str(ours))["a"]["default"] == "1"
    rerun = papermill.execute_notebook(
        str(ours), str(tmp_path / "pm-out.ipynb"), parameters={"a": 4}, progress_bar=False
    )
    assert [c.metadata.get("tags") for c in rerun.cells][:2] == [
        ["parameters"],
        ["injected-parameters"],
    ]
    assert rerun.metadata.papermill["parameters"] == {"a": 4}
