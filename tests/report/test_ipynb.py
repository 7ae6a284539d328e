from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat as _nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runt_action import __version__
from runt_action.report.ipynb import (
    build_notebook,
    notebook_json,
    validate_notebook,
    write_notebook,
)
from runt_action.report.scrub import Scrubber
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult, RunStatus

nbformat: Any = _nbformat  # untyped library


def test_executed_notebook_validates_and_round_trips(sample_result: Any, tmp_path: Path) -> None:
    path = tmp_path / "out" / "executed.ipynb"
    write_notebook(path, sample_result)
    assert sorted(p.name for p in path.parent.iterdir()) == ["executed.ipynb"]  # no temp left
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nbformat.writes(nb) + "\n" == path.read_text()  # stable round trip

    runt = nb.metadata.runt
    assert runt.notebook_id == "nb-123" and runt.status == "failed"
    assert runt.url == "https://app.runt.run/?notebook=nb-123"
    assert runt.parameters == {"n": 3} and runt.duration_ms == 2345.0
    assert runt.started_at == "2026-11-25T12:00:00Z"
    assert nb.metadata.kernelspec.name == "python3"

    params, intro, compute, explode, later = nb.cells
    assert params.metadata.tags == ["injected-parameters"]  # papermill's tag, only
    assert params.source.startswith("# Parameters injected by automation")
    assert intro.cell_type == "markdown" and intro.source == "# Hello"
    assert intro.metadata.runt.status == "not-executed"

    assert compute.execution_count == 2
    assert compute.metadata.runt == {
        "id": "compute",
        "cell_type": "code",
        "status": "success",
        "duration_ms": 12.5,
        "attempts": 1,
        "line": 12,
    }
    kinds = [(o.output_type, o.get("name")) for o in compute.outputs]
    assert kinds == [
        ("stream", "stdout"),  # the two stdout chunks were merged, as Jupyter shows them
        ("stream", "stderr"),
        ("execute_result", None),
        ("display_data", None),
    ]
    assert compute.outputs[0].text == "hello\nworld\n"
    assert compute.outputs[2].data["application/json"] == {"answer": 42}
    assert compute.outputs[2].execution_count == 2
    assert compute.outputs[3].data["image/png"] == "iVBORw0KGgo="
    assert compute.outputs[3].metadata == {"image/png": {"width": 10}}

    (err,) = explode.outputs
    assert (err.output_type, err.ename, err.evalue) == ("error", "ValueError", "boom")
    assert "\x1b[0;31m" in err.traceback[0]  # Jupyter keeps ANSI in tracebacks
    assert explode.metadata.runt.status == "failed"
    assert later.metadata.runt.reason == "after a failure"
    assert "notes" not in later.metadata.runt


def test_cell_notes_are_kept_in_the_notebook(make: Any) -> None:
    notes = ["stdout truncated at 64 MB", "the runtime was restarted before this cell"]
    text = notebook_json(make.result([make.cell("big", notes=notes)]))
    (cell,) = json.loads(text)["cells"]
    assert cell["metadata"]["runt"]["notes"] == notes


def test_awkward_ids_types_and_data(make: Any) -> None:
    cells = [
        make.cell("same id!", outputs=[CellOutput("mystery")]),
        make.cell("same id?"),
        make.cell("x" * 100, cell_type="sql"),
        make.cell("r", cell_type="raw", status=CellStatus.NOT_EXECUTED),
        make.cell(
            "d",
            outputs=[
                CellOutput(
                    "display_data",
                    data={"text/html": ["<b>", "x</b>"], "text/plain": 5, "weird": "x"},
                ),
                CellOutput("stream", name="weird", text="x"),
            ],
            started_at="2026-11-25T12:00:01Z",
            completed_at="2026-11-25T12:00:02Z",
        ),
    ]
    nb = build_notebook(make.result(cells, parameters={"when": object()}))
    validate_notebook(nb)
    ids = [c["id"] for c in nb["cells"]]
    assert ids[:2] == ["same-id-", "same-id--2"] and len(set(ids)) == 5
    assert all(len(i) <= 64 for i in ids)
    assert nb["cells"][0]["outputs"] == []  # unknown output type dropped, not invented
    assert nb["cells"][2]["cell_type"] == "code"
    assert nb["cells"][2]["metadata"]["runt"]["cell_type"] == "sql"
    assert nb["cells"][3]["cell_type"] == "raw"
    out = nb["cells"][4]["outputs"]
    assert out[0]["data"] == {"text/html": "<b>x</b>", "text/plain": "5"}
    assert out[1]["name"] == "stdout"
    assert nb["cells"][4]["metadata"]["execution"] == {
        "shell.execute_reply.started": "2026-11-25T12:00:01Z",
        "shell.execute_reply": "2026-11-25T12:00:02Z",
    }
    assert isinstance(nb["metadata"]["runt"]["parameters"]["when"], str)


def test_secrets_scrubbed_from_the_notebook(make: Any, tmp_path: Path) -> None:
    secret = 'tok"en\\9'
    cells = [
        make.cell(
            "c",
            source=f"key = {secret!r}",
            outputs=[
                CellOutput("stream", name="stdout", text="tok"),
                CellOutput("stream", name="stdout", text='"en\\9\n'),
                CellOutput("execute_result", data={"text/plain": secret}),
                make.error("E", secret),
            ],
        )
    ]
    path = tmp_path / "nb.ipynb"
    write_notebook(path, make.result(cells, parameters={"k": secret}), scrubber=Scrubber([secret]))
    raw = path.read_text()
    assert secret not in raw and json.dumps(secret)[1:-1] not in raw
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs[0].text == "***\n"


# -- valid by construction, and the file reads back as what was built --------------------
_text = st.text(st.characters(codec="utf-8"), max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_mime = (
    st.sampled_from(
        [
            "text/plain",
            "text/html",
            "text/markdown",
            "application/json",
            "application/vnd.custom+json",
            "application/javascript",
            "image/svg+xml",
            "image/png",
            "weird",
        ]
    )
    | _text
)
_anything = _json | st.just(object())  # what a misbehaving runtime might put on the wire
_count = st.none() | st.integers(-3, 10**6) | st.booleans()
_output = st.builds(
    CellOutput,
    output_type=st.sampled_from(["stream", "display_data", "execute_result", "error", "x"]),
    name=st.none() | st.sampled_from(["stdout", "stderr"]) | _text,
    text=st.none() | _text,
    data=st.dictionaries(_mime, _anything | st.lists(_text, max_size=3), max_size=4),
    metadata=_json,  # deliberately not always a dict
    execution_count=_count,
    ename=st.none() | _text,
    evalue=st.none() | _text,
    traceback=st.lists(_text, max_size=3),
)
_cell = st.builds(
    CellResult,
    id=_text,
    cell_type=st.sampled_from(["code", "markdown", "raw", "sql", "ai"]),
    source=_text,
    status=st.sampled_from(list(CellStatus)),
    line=st.none() | st.integers(0, 10**5),
    duration_ms=st.floats(0, 10**7),
    attempts=st.integers(0, 5),
    execution_count=_count,
    outputs=st.lists(_output, max_size=5),
    reason=st.none() | _text,
    started_at=st.none() | _text,
    completed_at=st.none() | _text,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cells=st.lists(_cell, max_size=6),
    title=_text,
    parameters=st.dictionaries(_text, _anything, max_size=3),
    runtime=st.sampled_from(["python", "pyodide", "none"]),
)
def test_any_result_makes_a_valid_notebook_that_reads_back_unchanged(
    make: Any, cells: list[CellResult], title: str, parameters: dict[str, Any], runtime: str
) -> None:
    result: RunResult = make.result(cells, title=title, parameters=parameters, runtime=runtime)
    nb = build_notebook(result)
    validate_notebook(nb)
    assert [c["id"] for c in nb["cells"]] == [c["id"] for c in build_notebook(result)["cells"]]
    text = notebook_json(result)
    assert nbformat.reads(text, as_version=4) == nbformat.from_dict(nb)
    validate_notebook(json.loads(text))
    # Written without nbformat at run time, yet exactly nbformat's bytes, for any shape.
    assert text == nbformat.writes(nbformat.from_dict(nb)) + "\n"


def test_the_text_is_byte_for_byte_what_nbformat_writes(sample_result: Any) -> None:
    """The run writes the file without importing nbformat; not a byte may differ from
    nbformat's own writer, and it validates."""
    from runt_action.report.ipynb import build_notebook

    expected = nbformat.writes(nbformat.from_dict(build_notebook(sample_result))) + "\n"
    assert notebook_json(sample_result) == expected
    assert notebook_json(sample_result, validate=True) == expected


def test_a_run_does_not_import_nbformat(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, pathlib\n"
        "from runt_action.report.ipynb import write_notebook\n"
        "from runt_action.results import RunResult, RunStatus\n"
        "r = RunResult('n', None, 't', 'f', RunStatus.SUCCESS, [], {}, 1.0, 'python', 'x')\n"
        f"write_notebook(pathlib.Path({str(tmp_path / 'o.ipynb')!r}), r)\n"
        "print('nbformat' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_written_file_is_the_same_text_streamed(sample_result: Any, tmp_path: Path) -> None:
    path = tmp_path / "out.ipynb"
    write_notebook(path, sample_result)
    assert path.read_text(encoding="utf-8") == notebook_json(sample_result, output_path=path)


# -- issue 21: a papermill user's notebook comes back as papermill would return it -------------


def _run(make: Any, **kw: Any) -> Any:
    """An .ipynb input's run: params (tagged), the injected cell, a markdown cell, ..."""
    t = "2026-11-25T12:00:0{}.500Z"
    cells = [
        make.cell("params", source="a = 1\n", started_at=t.format(1), completed_at=t.format(2)),
        make.cell("parameters", source="a = 2\n", started_at=t.format(2), completed_at=t.format(3)),
        make.cell("notes", cell_type="markdown", source="# N", status=CellStatus.NOT_EXECUTED),
        make.cell("ok", execution_count=3, started_at=t.format(3), completed_at=t.format(4)),
        make.cell("blank", source="  \n", attempts=0, duration_ms=0.0),
        make.cell("tolerated", status=CellStatus.ALLOWED_ERROR, started_at=t.format(4)),
        make.cell(
            "boom", status=CellStatus.FAILED, started_at=t.format(5), completed_at=t.format(6)
        ),
        make.cell("tail", cell_type="markdown", source="# T", status=CellStatus.NOT_EXECUTED),
        make.cell("later", status=CellStatus.SKIPPED, reason="an earlier cell failed"),
    ]
    kw.setdefault("ipynb_input", True)
    kw.setdefault("source_file", "in.ipynb")
    kw.setdefault(
        "cell_metadata",
        {
            "params": {"tags": ["parameters"], "papermill": {"status": "failed"}},
            "later": {"execution": {"shell.execute_reply": "stale"}},
            "notes": {"jupyter": {"source_hidden": True}, "tags": ["remove-cell"]},
            "ok": {
                "collapsed": True,
                "scrolled": True,
                "tags": ["custom"],
                "myext": {"k": [1]},
                "execution": {"shell.execute_reply": "stale"},
                "runt": {"timeout": 5, "status": "failed", "reason": "stale", "notes": ["x"]},
            },
        },
    )
    return make.result(cells, **kw)


def test_cell_metadata_comes_back_as_it_came_in(make: Any) -> None:
    nb = build_notebook(_run(make))
    validate_notebook(nb)
    cells = {c["id"]: c["metadata"] for c in nb["cells"]}
    assert cells["params"]["tags"] == ["parameters"]
    assert cells["parameters"]["tags"] == ["injected-parameters"]  # papermill's tag
    assert cells["notes"]["jupyter"] == {"source_hidden": True}
    assert cells["notes"]["tags"] == ["remove-cell"]
    ok = cells["ok"]
    assert (ok["collapsed"], ok["scrolled"], ok["tags"], ok["myext"]) == (
        True,
        True,
        ["custom"],
        {"k": [1]},
    )
    # the input's options stay in our key; an earlier run's result keys are replaced
    assert ok["runt"]["timeout"] == 5 and ok["runt"]["status"] == "success"
    assert "reason" not in ok["runt"] and "notes" not in ok["runt"]
    assert ok["execution"]["shell.execute_reply"] == "2026-11-25T12:00:04.500Z"  # this run's
    assert "execution" not in cells["later"]  # never ran this time: the old timing is gone
    assert cells["params"]["papermill"]["status"] == "completed"  # replaced, not kept
    assert "tags" not in cells["blank"]  # a YAML-like cell without metadata gets none


def test_papermill_record_per_cell(make: Any) -> None:
    nb = build_notebook(_run(make))
    record = {c["id"]: c["metadata"]["papermill"] for c in nb["cells"]}
    assert record["params"] == {
        "exception": False,
        "start_time": "2026-11-25T12:00:01.500000+00:00",
        "end_time": "2026-11-25T12:00:02.500000+00:00",
        "duration": 0.0125,
        "status": "completed",
    }
    states = {k: (v["status"], v["exception"]) for k, v in record.items()}
    assert states == {
        "params": ("completed", False),
        "parameters": ("completed", False),
        "notes": ("completed", False),  # the run went past it
        "ok": ("completed", False),
        "blank": ("completed", False),  # empty: never sent to the kernel, as nbclient does
        "tolerated": ("completed", False),  # raises-exception: papermill does not stop there
        "boom": ("failed", True),
        "tail": ("pending", None),  # the run stopped before it
        "later": ("pending", None),
    }
    assert record["later"]["start_time"] is None and record["later"]["duration"] is None
    assert record["blank"]["start_time"] is None


def test_papermill_record_of_the_notebook(make: Any) -> None:
    result = _run(
        make,
        parameters={"a": 2, "b": "x", "token": "***"},
        given_parameters={"a": 2, "token": "***"},
        default_parameters={"a": 1, "b": "x"},
    )
    nb = build_notebook(result, output_path="out/run.ipynb")
    record = nb["metadata"]["papermill"]
    assert record == {
        "default_parameters": {"a": 1, "b": "x"},
        "parameters": {"a": 2, "token": "***"},
        "environment_variables": {},
        "version": __version__,
        "input_path": "in.ipynb",
        "output_path": "out/run.ipynb",
        "start_time": "2026-11-25T12:00:00+00:00",
        "end_time": "2026-11-25T12:00:02.345000+00:00",
        "duration": 2.345,
        "exception": True,
    }
    ok = build_notebook(make.result([make.cell("a")]))["metadata"]["papermill"]
    assert ok["exception"] is False and ok["parameters"] == {"n": 3}  # given not known: all
    assert ok["output_path"] is None


def test_an_input_papermill_record_is_replaced_and_secrets_scrubbed(make: Any) -> None:
    stale = {"parameters": {"old": 1}, "version": "2.4.0", "input_path": "elsewhere.ipynb"}
    result = _run(
        make,
        ipynb_metadata={"papermill": stale, "kernelspec": {"name": "k", "display_name": "K"}},
        given_parameters={"a": "s3cret-value"},
    )
    text = notebook_json(result, scrubber=Scrubber(["s3cret-value"]), validate=True)
    meta = json.loads(text)["metadata"]
    assert meta["papermill"]["parameters"] == {"a": "***"}
    assert meta["papermill"]["input_path"] == "in.ipynb" and "old" not in text
    assert meta["kernelspec"]["name"] == "k" and "s3cret-value" not in text


def test_a_checkpoint_records_the_running_cell(make: Any) -> None:
    cells = [
        make.cell("a", started_at="2026-11-25T12:00:01Z", completed_at="2026-11-25T12:00:02Z"),
        make.cell("b", status=CellStatus.SKIPPED, started_at="2026-11-25T12:00:02Z", reason=None),
        make.cell("m", cell_type="markdown", status=CellStatus.NOT_EXECUTED),
        make.cell("c", status=CellStatus.SKIPPED, reason="not reached"),
    ]
    nb = build_notebook(make.result(cells, status=RunStatus.RUNNING))
    states = [c["metadata"]["papermill"]["status"] for c in nb["cells"]]
    assert states == ["completed", "running", "pending", "pending"]
    record = nb["metadata"]["papermill"]
    assert record["end_time"] is None and record["duration"] is None


def test_language_info_from_the_runtime_and_the_input_title(make: Any) -> None:
    mine = {"name": "python", "version": "3.99"}
    result = make.result(
        [make.cell("a")],
        ipynb_input=True,
        ipynb_metadata={"language_info": mine, "authors": []},
        language_info={"name": "python", "version": "3.11.7", "mimetype": "text/x-python"},
    )
    meta = build_notebook(result)["metadata"]
    assert meta["language_info"]["version"] == "3.11.7"  # the runtime's, as papermill does
    assert meta["authors"] == [] and "title" not in meta  # a Jupyter input had no title
    kept = build_notebook(make.result([], ipynb_input=True, ipynb_metadata={"language_info": mine}))
    assert kept["metadata"]["language_info"] == mine  # runtime unknown: the input's stays
    assert kept["cells"] == []
    validate_notebook(kept)


def test_papermill_reads_the_record(make: Any, tmp_path: Path) -> None:
    """papermill's own readers accept what we write (papermill is the bench extra)."""
    import pytest

    pytest.importorskip("papermill")
    from papermill.inspection import inspect_notebook
    from papermill.iorw import load_notebook_node

    path = tmp_path / "run.ipynb"
    write_notebook(path, _run(make, default_parameters={"a": 1}, given_parameters={"a": 2}))
    node = load_notebook_node(str(path))
    assert node.metadata.papermill["parameters"] == {"a": 2}
    assert inspect_notebook(str(path))["a"]["default"] == "1"  # the cell tagged parameters
