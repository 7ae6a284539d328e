"""Jupyter notebooks as input, and YAML <-> .ipynb conversion (issue 13, ".ipynb input")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from runt_action.errors import NotebookError
from runt_action.notebook import load_notebook, parse_notebook
from runt_action.notebook.ipynb_input import (
    ipynb_text,
    notebook_to_ipynb,
    notebook_to_yaml,
    parameter_defaults,
    parse_ipynb,
)
from runt_action.orchestrator.runner import plan_cells


def _code(cell_id: str | None, source: str, tags: tuple[str, ...] = (), **runt: Any) -> Any:
    cell = nbformat.v4.new_code_cell(source)
    if cell_id is None:
        del cell["id"]
    else:
        cell["id"] = cell_id
    if tags:
        cell.metadata["tags"] = list(tags)
    if runt:
        cell.metadata["runt"] = runt
    return cell


def _nb(*cells: Any, **metadata: Any) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata.update(metadata)
    return str(nbformat.writes(nb))


def _md(cell_id: str, text: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(text)
    cell["id"] = cell_id
    return cell


def test_cells_options_and_tags() -> None:
    text = _nb(
        _md("intro", "# Title"),
        _code("load", "x = 1", timeout=5, retries=2, **{"if": "success()"}),
        _code("boom", "1/0", ("raises-exception",)),
        _code("later", "raise SystemExit", ("skip-execution",)),
        _code("res", "x", result=True, allow_error=False),
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python", "version": "3.12.1"},
        custom={"kept": True},
    )
    nb = parse_ipynb(text, "in.ipynb")
    cells = {c.id: c for c in nb.cells}
    assert [c.id for c in nb.cells] == ["intro", "load", "boom", "later", "res"]
    assert cells["intro"].celltype == "markdown" and cells["intro"].source == "# Title"
    assert (cells["load"].timeout, cells["load"].retries, cells["load"].if_) == (5, 2, "success()")
    assert cells["boom"].allow_error and not cells["boom"].skip
    assert cells["later"].skip and cells["res"].result
    assert nb.ipynb_metadata["language_info"]["version"] == "3.12.1"
    assert nb.ipynb_metadata["custom"] == {"kept": True}
    planned = {c.id: c for c in plan_cells(nb, None)}
    assert planned["later"].skip_reason == "tagged skip-execution"
    assert planned["boom"].skip_reason is None


def test_ids_kept_when_valid_else_derived() -> None:
    nb = parse_ipynb(_nb(_code("parameters", "b = 2"), _code("ok_id-1", "c = 3")), "new.ipynb")
    assert [c.id for c in nb.cells] == ["cell-1", "ok_id-1"]  # "parameters" is ours
    old = json.loads(_nb(_code("a", "1"), _code("b", "2")))
    old["nbformat_minor"] = 4  # nbformat 4.4: cells have no ids
    for cell in old["cells"]:
        del cell["id"]
    assert [c.id for c in parse_ipynb(json.dumps(old), "old.ipynb").cells] == ["cell-1", "cell-2"]


def test_sources_as_lists_are_joined(tmp_path: Path) -> None:
    data = json.loads(_nb(_code("a", "")))
    data["cells"][0]["source"] = ["x = 1\n", "print(x)\n"]
    path = tmp_path / "list.ipynb"
    path.write_text(json.dumps(data))
    assert load_notebook(path).cells[0].source == "x = 1\nprint(x)\n"


def test_parameters_cell_gives_defaults_and_the_injection_point() -> None:
    text = _nb(
        _code("imports", "import math"),
        _code(
            "params", "alpha = 0.5\nname: str = 'x'\nn = -3\ncomputed = math.pi\n", ("parameters",)
        ),
        _code("use", "print(alpha, name)"),
    )
    nb = parse_ipynb(text, "p.ipynb")
    assert nb.parameters == {"alpha": 0.5, "name": "x", "n": -3}
    assert nb.parameters_after == "params"
    assert [c.id for c in plan_cells(nb, "alpha = 1\n")] == [
        "imports",
        "params",
        "parameters",
        "use",
    ]
    # No parameters cell: the injected cell comes first, as for a YAML notebook.
    plain = parse_ipynb(_nb(_code("a", "1")), "q.ipynb")
    assert plain.parameters_after is None
    assert [c.id for c in plan_cells(plain, "x = 1\n")] == ["parameters", "a"]


def test_an_earlier_injected_cell_is_replaced_and_its_values_kept() -> None:
    text = _nb(
        _code("params", "a = 1\nb = 2", ("parameters",)),
        _code("old", "# Parameters\na = 5\n", ("injected-parameters",)),
        _code("use", "print(a)"),
    )
    nb = parse_ipynb(text, "p.ipynb")
    assert [c.id for c in nb.cells] == ["params", "use"]
    assert nb.parameters == {"a": 5, "b": 2} and nb.parameters_after == "params"
    # One that is not plain assignments stays a normal cell: nothing is dropped.
    keep = parse_ipynb(
        _nb(_code("old", "a = compute()", ("injected-parameters",)), _code("u", "a")), "k.ipynb"
    )
    assert [c.id for c in keep.cells] == ["old", "u"]


def test_parameter_defaults_reads_only_literals() -> None:
    assert parameter_defaults("a = 1\nb = [1, 'x']\nc = f()\nimport os\nd = e = 2") == {
        "a": 1,
        "b": [1, "x"],
    }
    assert parameter_defaults("a = 1\nc = f()", strict=True) is None
    assert parameter_defaults('x = float("nan")\ny = 1', strict=True) is not None
    assert parameter_defaults("print = 1") == {}  # not a valid parameter name
    assert parameter_defaults("def (") == {}


@pytest.mark.parametrize(
    ("mutate", "message", "anchor"),
    [
        (lambda d: d.update(cells="x"), "invalid Jupyter notebook", None),
        (
            lambda d: d["cells"][1]["metadata"].update(runt={"retry": 2}),
            "cell 2 (id 'b'): unknown key 'retry'",
            '"retry"',
        ),
        (
            lambda d: d["cells"][1]["metadata"].update(runt={"timeout": -1}),
            "cell 2 (id 'b'): metadata.runt.timeout",
            '"timeout"',
        ),
        (
            lambda d: d["cells"][0]["metadata"].update(runt={"if": "cells.b.status == 'failed'"}),
            "cell 1 (id 'a'): invalid `if:`",
            '"if"',
        ),
        (
            lambda d: d["cells"][0]["metadata"].update(runt=[1]),
            "cell 1 (id 'a'): metadata.runt must be a mapping",
            '"runt"',
        ),
    ],
)
def test_errors_are_one_located_line(
    mutate: Any, message: str, anchor: str | None, tmp_path: Path
) -> None:
    """The position is that of the JSON value at fault (anchor: text on its line)."""
    data = json.loads(_nb(_code("a", "1"), _code("b", "2")))
    mutate(data)
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(data, indent=1))
    lines = path.read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if anchor in t) if anchor else 1
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    text = str(info.value)
    assert re.match(rf"{re.escape(str(path))}:{line}:\d+: ", text) and message in text, text
    assert "\n" not in text


def test_not_json_is_located(tmp_path: Path) -> None:
    path = tmp_path / "yaml-really.ipynb"
    path.write_text('{"cells": [\n  oops\n]}')
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    assert str(info.value).startswith(f"{path}:2:3: not a Jupyter notebook: JSON syntax error")


def test_result_notebook_keys_are_accepted_on_rerun() -> None:
    text = _nb(_code("a", "1", id="a", status="success", duration_ms=3.0, attempts=1, retries=1))
    assert parse_ipynb(text, "again.ipynb").cells[0].retries == 1


YAML = """\
metadata:
  title: Round trip
parameters:
  days: 7
  country: "NO"
cells:
  - id: notes
    celltype: markdown
    source: "# Notes"
  - id: load
    timeout: 5
    retries: 1
    source: |
      total = days * 2
      print(country, total)
  - id: risky
    allow_error: true
    if: success()
    source: 1/0
  - id: later
    skip: true
    source: print("never")
"""


def test_yaml_to_ipynb_and_back(tmp_path: Path) -> None:
    yaml_nb = parse_notebook(YAML, "r.yml")
    data = notebook_to_ipynb(yaml_nb, parameters_source="days = 9\n")
    nbformat.validate(nbformat.from_dict(data))
    cells = data["cells"]
    assert [c["id"] for c in cells] == [
        "parameters-defaults",
        "parameters",
        "notes",
        "load",
        "risky",
        "later",
    ]
    assert cells[0]["metadata"]["tags"] == ["parameters"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters"]
    assert cells[3]["metadata"]["runt"] == {"timeout": 5.0, "retries": 1}
    back = parse_ipynb(ipynb_text(data), "r.ipynb")
    assert back.parameters == {"days": 9, "country": "NO"}  # the injected value is kept
    again = parse_notebook(notebook_to_yaml(back), "r2.yml")
    assert again.parameters == {"days": 9, "country": "NO"}
    assert again.parameters_after is None
    strip = ("line",)
    assert [c.model_dump(exclude=set(strip)) for c in again.cells] == [
        c.model_dump(exclude=set(strip)) for c in yaml_nb.cells
    ]
    assert again.metadata.title == "Round trip"


def test_ipynb_with_code_in_parameters_cell_keeps_its_place_in_yaml() -> None:
    nb = parse_ipynb(
        _nb(
            _code("setup", "import os"),
            _code("params", "a = 1\nb = os.sep", ("parameters",)),
            _code("use", "print(a)"),
        ),
        "x.ipynb",
    )
    text = notebook_to_yaml(nb)
    again = parse_notebook(text, "x.yml")
    assert again.parameters_after == "params" and again.parameters == {"a": 1}
    assert [c.id for c in plan_cells(again, "a = 2\n")] == ["setup", "params", "parameters", "use"]


def test_yaml_parameters_after_must_name_a_cell() -> None:
    with pytest.raises(NotebookError, match="parameters-after: no cell has id 'nope'"):
        parse_notebook("parameters-after: nope\ncells:\n  - id: a\n    source: '1'\n", "x.yml")


def test_old_outputs_beyond_the_yaml_limit_are_fine(tmp_path: Path) -> None:
    """A notebook that still carries outputs (12 MB here) loads; the outputs are not used."""
    cell = _code("plot", "show()")
    cell["outputs"] = [
        nbformat.v4.new_output("display_data", data={"image/png": "A" * (12 * 2**20)})
    ]
    path = tmp_path / "heavy.ipynb"
    path.write_text(_nb(cell))
    nb = load_notebook(path)
    assert [c.source for c in nb.cells] == ["show()"]


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runt_action.notebook import ipynb_input

    monkeypatch.setattr(ipynb_input, "MAX_IPYNB_BYTES", 2**20)
    path = tmp_path / "big.ipynb"
    path.write_text(_nb(_code("a", "x" * (2 * 2**20))))
    with pytest.raises(NotebookError, match=r"big.ipynb:1:1: file is 2.0 MB, larger than the 1 MB"):
        load_notebook(path)


def test_report_keeps_the_input_metadata() -> None:
    """The executed .ipynb (report/ipynb.py) starts from the input's notebook metadata."""
    from runt_action.report.ipynb import build_notebook
    from runt_action.results import RunResult, RunStatus

    result = RunResult(
        notebook_id="nb",
        notebook_url=None,
        title="T",
        source_file="in.ipynb",
        status=RunStatus.SUCCESS,
        cells=[],
        parameters={},
        duration_ms=1.0,
        runtime="pyodide",
        started_at="2026-01-01T00:00:00Z",
        ipynb_metadata={
            "kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
            "authors": [{"name": "a"}],
            "runt": {"stale": True},
            "title": "old",
        },
    )
    meta = build_notebook(result)["metadata"]
    assert meta["kernelspec"]["name"] == "ir" and meta["authors"] == [{"name": "a"}]
    assert meta["title"] == "T" and "stale" not in meta["runt"]


# -- issue 21: what came in is kept; what nbformat reads is accepted ----------------------------


def test_every_cell_keeps_its_metadata_as_it_came_in() -> None:
    intro = _md("intro", "# T")
    intro.metadata.update(jupyter={"source_hidden": True}, tags=["remove-cell"])
    show = _code("show", "print(1)", ("custom", "raises-exception"), timeout=5)
    show.metadata.update(collapsed=True, scrolled="auto", myext={"deep": [1, {"x": None}]})
    nb = parse_ipynb(_nb(intro, show), "m.ipynb")
    assert nb.cells[0].ipynb_metadata == {
        "jupyter": {"source_hidden": True},
        "tags": ["remove-cell"],
    }
    kept = nb.cells[1].ipynb_metadata
    assert kept["tags"] == ["custom", "raises-exception"] and kept["runt"] == {"timeout": 5}
    assert kept["collapsed"] is True and kept["scrolled"] == "auto"
    assert kept["myext"] == {"deep": [1, {"x": None}]}
    assert type(kept["myext"]) is dict  # plain JSON values, not nbformat's NotebookNode
    assert nb.cells[1].allow_error and nb.cells[1].timeout == 5  # and still honoured


def test_a_yaml_cell_cannot_set_ipynb_metadata() -> None:
    text = "cells:\n  - id: a\n    ipynb_metadata: {}\n    source: x = 1\n"
    with pytest.raises(NotebookError, match="unknown key 'ipynb_metadata'"):
        parse_notebook(text, "x.yml")


@pytest.mark.parametrize("drop", [True, False])
def test_code_cell_without_execution_count_loads(drop: bool, tmp_path: Path) -> None:
    data = json.loads(_nb(_code("a", "x = 1"), _code("b", "x")))
    cell = data["cells"][0]
    if drop:
        del cell["execution_count"]
        del cell["outputs"]
    else:
        cell["execution_count"] = None
    path = tmp_path / "lax.ipynb"
    path.write_text(json.dumps(data))
    nb = load_notebook(path)
    assert [c.id for c in nb.cells] == ["a", "b"] and nb.cells[0].source == "x = 1"


def test_a_notebook_without_cells_loads(tmp_path: Path) -> None:
    path = tmp_path / "empty.ipynb"
    path.write_text(_nb())
    nb = load_notebook(path)
    assert nb.cells == [] and nb.parameters == {}
    # only an earlier run's injected cell: nothing left to run, its values kept as defaults
    nb = parse_ipynb(_nb(_code("i", "n = 2", ("injected-parameters",))), "only.ipynb")
    assert nb.cells == [] and nb.parameters == {"n": 2}
    with pytest.raises(NotebookError, match="at least one cell"):  # a YAML notebook: a mistake
        parse_notebook("cells: []\n", "none.yml")


def test_papermill_defaults_come_from_the_parameters_cell_only() -> None:
    from runt_action.notebook.ipynb_input import papermill_defaults

    nb = parse_ipynb(
        _nb(
            _code("p", "a = 1\nb = 'x'\nimport os\n", ("parameters",)),
            _code("old", "a = 5\nc = 3\n", ("injected-parameters",)),
            _code("use", "print(a)"),
        ),
        "pm.ipynb",
    )
    assert nb.parameters == {"a": 5, "b": "x", "c": 3}  # what this run starts from
    assert papermill_defaults(nb) == {"a": 1, "b": "x"}  # papermill's default_parameters
    assert papermill_defaults(parse_ipynb(_nb(_code("u", "1")), "none.ipynb")) == {}
    assert papermill_defaults(parse_notebook(YAML, "r.yml")) == {"days": 7, "country": "NO"}


def test_prepared_notebook_keeps_cell_metadata_minus_earlier_runs() -> None:
    """--prepare-only / convert: the input's cell metadata stays, tags as they were."""
    setup = _code("setup", "import os")
    setup.metadata.update(
        collapsed=True,
        papermill={"status": "failed", "exception": True},
        execution={"shell.execute_reply": "2020-01-01T00:00:00Z"},
        runt={"timeout": 5, "status": "failed", "reason": "old"},
    )
    old = _code("old", "n = 1", ("injected-parameters",))
    text = _nb(
        setup, old, _code("use", "print(n)", ("custom",)), papermill={"parameters": {"n": 1}}
    )
    nb = parse_ipynb(text, "in.ipynb")
    data = notebook_to_ipynb(nb, parameters_source="n = 2\n")
    nbformat.validate(nbformat.from_dict(data))
    cells = {c["id"]: c for c in data["cells"]}
    assert cells["setup"]["metadata"] == {"collapsed": True, "runt": {"timeout": 5}}
    assert "tags" not in cells["setup"]["metadata"]  # parameters-after never adds a tag here
    assert cells["use"]["metadata"] == {"tags": ["custom"]}
    assert cells["parameters"]["metadata"]["tags"] == ["injected-parameters"]
    assert "papermill" not in data["metadata"]  # the stale record is not carried over


def test_an_injected_cell_reading_a_secret_is_still_replaced() -> None:
    """Our own output, run again: the secret's line has no value to keep (a run injects it again
    when the secret is given); the cell is replaced, not kept beside the new one."""
    from runt_action.notebook import ipynb_input, params

    assert ipynb_input.SECRET_ENV_PREFIX == params.SECRET_ENV_PREFIX
    source = params.render_parameters_cell({"a": 5}, ["token"])
    nb = parse_ipynb(
        _nb(_code("p", "a = 1", ("parameters",)), _code("i", source, ("injected-parameters",))),
        "again.ipynb",
    )
    assert [c.id for c in nb.cells] == ["p"] and nb.parameters == {"a": 5}
    other = 'token = __import__("os").environ["HOME"]\n'  # not ours: an ordinary cell stays
    nb = parse_ipynb(_nb(_code("i", other, ("injected-parameters",))), "x.ipynb")
    assert [c.id for c in nb.cells] == ["i"]


def test_a_cells_source_lines_map_to_the_file_as_nbformat_writes_them(tmp_path: Path) -> None:
    """Each source line is one JSON line: a traceback's line in the cell maps to the file
    (annotations point at the line that raised, not at the cell)."""
    text = _nb(_md("m", "# title\ntext"), _code("a", "x = 1\ny = 2\nraise ValueError(y)"))
    path = tmp_path / "lines.ipynb"
    path.write_text(text)
    cells = load_notebook(path).cells
    lines = text.split("\n")
    for cell in cells:
        assert cell.source_line > 0 and cell.line == 0
        assert (
            lines[cell.source_line - 1]
            .strip()
            .startswith(json.dumps(cell.source.split("\n")[0])[:-1])
        )
    a = cells[1]
    assert lines[a.source_line + 2 - 1].strip() == '"raise ValueError(y)"'


def test_other_layouts_map_no_line(tmp_path: Path) -> None:
    data = json.loads(_nb(_code("a", "x = 1\ny = 2")))
    path = tmp_path / "flat.ipynb"
    path.write_text(json.dumps(data))  # one line: no source line is a file line
    assert load_notebook(path).cells[0].source_line == 0
