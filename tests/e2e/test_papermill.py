"""papermill users' habits end to end: .ipynb input, papermill's flags, YAML <-> .ipynb parity."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from runt_action.cli import main
from tests.jupyter import write_ipynb

YAML = """\
metadata:
  title: Parity
parameters:
  days: 7
  label: "NO"
cells:
  - id: intro
    celltype: markdown
    source: "# Parity"
  - id: compute
    source: |
      total = days * 2
      print(label, total, type(days).__name__)
  - id: risky
    allow_error: true
    source: |
      print("before")
      raise ValueError("tolerated")
  - id: guarded
    if: cells.risky.status == "allowed-error"
    source: print("risky failed as expected")
  - id: never
    skip: true
    source: print("SHOULD-NOT-RUN")
  - id: last
    source: print("done", total)
"""


def _jupyter(path: Path, *cells: tuple[str, str, list[str]]) -> Path:
    return write_ipynb(
        path,
        *cells,
        kernelspec={"name": "python3", "display_name": "Mine", "language": "python"},
        language_info={"name": "python", "version": "3.99"},
        authors=[{"name": "kept"}],
    )


def _streams(nb: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for cell in nb["cells"]:
        text = "".join(
            "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream"
        )
        out[cell["metadata"]["runt"]["id"]] = text
    return out


async def test_papermill_command_line_against_an_ipynb(cli: Any, tmp_path: Path) -> None:
    """Done-when: ``-p a 1 -y "b: 2" -r c 3 --cwd dir -k python3`` works against an .ipynb."""
    nb = _jupyter(
        tmp_path / "pm.ipynb",
        ("setup", "import os", []),
        ("params", "a = 0\nb = 0\nc = 'x'\n", ["parameters"]),
        ("show", "print(repr(a), repr(b), repr(c))", []),
        ("skipped", "print('SHOULD-NOT-RUN')", ["skip-execution"]),
        ("tolerated", "1 / 0", ["raises-exception"]),
    )
    (tmp_path / "dir").mkdir()
    run = await cli(
        tmp_path, nb, "-p", "a", "1", "-y", "b: 2", "-r", "c", "3", "--cwd", "dir", "-k", "python3"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    statuses = {r["id"]: r["status"] for r in run.results}
    assert [r["id"] for r in run.results] == [
        "setup",
        "params",
        "parameters",
        "show",
        "skipped",
        "tolerated",
    ]
    assert statuses["skipped"] == "skipped" and statuses["show"] == "success"
    assert statuses["tolerated"] == "allowed-error"
    assert "1 2 '3'" in run.stdout
    assert "SHOULD-NOT-RUN" not in run.stdout
    assert run.ipynb is not None
    meta = run.ipynb["metadata"]
    # language_info is the kernel's own (its kernel_info_reply), as papermill writes it.
    assert meta["language_info"]["version"] == platform.python_version()
    assert meta["authors"] == [{"name": "kept"}]
    assert meta["kernelspec"]["display_name"] == "Mine"
    injected = run.ipynb["cells"][2]
    assert injected["metadata"]["tags"] == ["injected-parameters"]  # papermill's tag


async def test_ipynb_results_match_the_equivalent_yaml(cli: Any, tmp_path: Path) -> None:
    yml = tmp_path / "parity.yml"
    yml.write_text(YAML)
    ipynb = tmp_path / "parity.ipynb"
    assert main(["convert", str(yml), str(ipynb)]) == 0  # in process: a plain file job
    (tmp_path / "y").mkdir()
    (tmp_path / "j").mkdir()
    from_yaml = await cli(tmp_path / "y", yml, "--runtime", "python", "-p", "days", "014")
    from_ipynb = await cli(tmp_path / "j", ipynb, "--runtime", "python", "-p", "days", "014")
    assert from_yaml.returncode == from_ipynb.returncode == 0, from_ipynb.stderr[-3000:]
    yaml_status = {r["id"]: r["status"] for r in from_yaml.results}
    ipynb_status = {r["id"]: r["status"] for r in from_ipynb.results}
    assert ipynb_status.pop("parameters-defaults") == "success"  # the YAML's defaults, as a cell
    assert ipynb_status == yaml_status
    assert yaml_status["never"] == "skipped" and yaml_status["guarded"] == "success"
    assert yaml_status["risky"] == "allowed-error" and yaml_status["intro"] == "not-executed"
    assert from_yaml.ipynb is not None and from_ipynb.ipynb is not None
    yaml_streams, ipynb_streams = _streams(from_yaml.ipynb), _streams(from_ipynb.ipynb)
    ipynb_streams.pop("parameters-defaults")
    assert ipynb_streams == yaml_streams
    assert "NO 28 int" in yaml_streams["compute"]  # -p days 014 is 14 (papermill: int())


async def test_ipynb_on_pyodide(cli: Any, tmp_path: Path) -> None:
    nb = _jupyter(
        tmp_path / "py.ipynb",
        ("params", "n = 1", ["parameters"]),
        ("show", "print('n is', n)", []),
        ("skipped", "print('SHOULD-NOT-RUN')", ["skip-execution"]),
    )
    run = await cli(tmp_path, nb, "--runtime", "pyodide", "-p", "n", "1_6")  # papermill: int()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "n is 16" in run.stdout and "SHOULD-NOT-RUN" not in run.stdout
    assert {r["id"]: r["status"] for r in run.results} == {
        "params": "success",
        "parameters": "success",
        "show": "success",
        "skipped": "skipped",
    }
    assert run.ipynb is not None and run.ipynb["metadata"]["language_info"]["version"] == "3.99"
    json.dumps(run.ipynb)
