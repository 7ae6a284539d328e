"""SQL cells' results as real data frames: the python runtime in a run-local venv made with uv
from PyPI (--requirements: pandas, polars, duckdb; the project's own .venv has neither frame
library), so the kernel helper runs where only the user's requirements and ipykernel are
importable. The uv cache lives under the repository's .cache/, so a second run is warm.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from runt_action.notebook import load_notebook
from tests.e2e.conftest import REPO, _env

# Pinned: the test checks behaviour, not whatever PyPI published last.
REQUIREMENTS = "pandas==3.1.2\npolars==2.2.0\nduckdb==2.0.1\n"
UV_CACHE = REPO / ".cache" / "uv-tests"

# A cold uv cache downloads ~90 MB of wheels from PyPI (test: ~18 s here); warm, ~11 s.
pytestmark = pytest.mark.timeout(300)

FRAMES = """\
parameters:
  region: north
cells:
  - id: orders
    source: |
      import pandas as pd
      orders = pd.DataFrame({"region": ["north", "south", "north"], "amount": [10, 5, 7]})
  - id: sales
    celltype: sql
    variable: sales
    source: |
      SELECT region, sum(amount) AS total
      FROM orders
      WHERE region = $region
      GROUP BY region
  - id: check
    source: |
      import pandas as pd
      assert isinstance(sales, pd.DataFrame), type(sales)
      assert list(sales.columns) == ["region", "total"]
      print("pandas total", int(sales["total"].iloc[0]))
  - id: numbers
    celltype: sql
    variable: numbers
    dataframe: polars
    source: SELECT range AS n, 'row ' || range AS label FROM range(120)
  - id: polars_check
    source: |
      import polars as pl
      assert isinstance(numbers, pl.DataFrame), type(numbers)
      print("polars", numbers.height, numbers["n"].sum())
  - id: big
    celltype: sql
    variable: big
    dataframe: rows
    source: SELECT count(*) AS n FROM numbers WHERE n >= 100
  - id: rows_check
    source: print(type(big).__name__, big.columns, big["n"])
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nb.yml"
    path.write_text(text)
    return path


def _cell(run: Any, cell_id: str) -> dict[str, Any]:
    assert run.ipynb is not None, run.stderr[-3000:]
    [cell] = [c for c in run.ipynb["cells"] if c["id"] == cell_id]
    return dict(cell)


def _data(cell: dict[str, Any], mime: str) -> str:
    return "\n".join("".join(o.get("data", {}).get(mime, "")) for o in cell["outputs"])


def _stream(cell: dict[str, Any]) -> str:
    return "".join("".join(o.get("text", "")) for o in cell["outputs"])


async def test_pandas_and_polars_results_in_a_uv_kernel(cli: Any, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    run = await cli(
        tmp_path,
        _write(tmp_path, FRAMES),
        "--runtime",
        "python",
        "--requirements",
        str(requirements),
        "--uv-cache-dir",
        str(UV_CACHE),
        limit=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert all(r["status"] == "success" for r in run.results), run.results
    # The kernel ran in the run-local venv, which has the pinned frame libraries.
    assert "polars==2.2.0" in run.stdout + run.stderr
    # DuckDB scanned the kernel's pandas frame by name, bound $region as data, and the
    # result is a pandas DataFrame a later cell indexes.
    sales = _cell(run, "sales")
    assert "<td>north</td><td>17</td>" in _data(sales, "text/html")
    assert "1 row ·" in _data(sales, "text/plain")
    assert "pandas total 17" in _stream(_cell(run, "check"))
    # dataframe: polars -> a polars DataFrame; the table shows the first 50 of 120 rows.
    assert "polars 120 7140" in _stream(_cell(run, "polars_check"))
    numbers = _cell(run, "numbers")
    shown = _data(numbers, "text/html")
    assert "<td>row 0</td>" in shown and "<td>row 49</td>" in shown
    assert "row 50<" not in shown and "50 of 120 rows" in shown
    assert "50 of 120 rows" in _data(numbers, "text/plain")
    # DuckDB scans a polars frame too (through its Arrow stream: no pyarrow here), and
    # dataframe: rows keeps the plain list of rows.
    assert "Rows ['n'] [20]" in _stream(_cell(run, "rows_check"))
    # The executed notebook keeps the choice, and runs again as the same SQL cell.
    assert numbers["metadata"]["runt"]["sql"] == {"variable": "numbers", "dataframe": "polars"}
    again = {c.id: c for c in load_notebook(tmp_path / "executed.ipynb").cells}["numbers"]
    assert (again.celltype, again.variable, again.dataframe) == ("sql", "numbers", "polars")


async def test_asking_for_a_missing_frame_library_fails_the_cell_naming_it(
    cli: Any, tmp_path: Path
) -> None:
    # The project's own environment has DuckDB but neither pandas nor polars.
    nb = _write(
        tmp_path,
        """\
cells:
  - id: fast
    celltype: sql
    variable: fast
    dataframe: polars
    source: SELECT 1 AS x
  - id: plain
    celltype: sql
    variable: plain
    source: SELECT 2 AS x
  - id: uses
    source: print(type(plain).__name__, plain["x"])
""",
    )
    run = await cli(tmp_path, nb, "--runtime", "python", "--on-error", "continue")
    assert run.returncode == 1, run.stderr[-3000:]
    assert {r["id"]: r["status"] for r in run.results} == {
        "fast": "failed",
        "plain": "success",
        "uses": "success",
    }
    error = json.dumps(_cell(run, "fast")["outputs"])
    assert "dataframe: polars was asked for" in error
    assert "the package 'polars' is not installed in this runtime" in error
    # Without pandas and without a request, the result is the list of rows.
    assert "Rows [2]" in _stream(_cell(run, "uses"))


async def test_validate_checks_the_dataframe_key(cli: Any, tmp_path: Path) -> None:
    bad_value = _write(
        tmp_path,
        "cells:\n  - id: q\n    celltype: sql\n    dataframe: arrow\n    source: SELECT 1\n",
    )
    run = await cli(tmp_path, bad_value, "--validate")
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"{bad_value}:4:") and "'arrow'" in line and "polars" in line
    on_code = _write(tmp_path, "cells:\n  - id: q\n    dataframe: polars\n    source: x = 1\n")
    run = await cli(tmp_path, on_code, "--validate")
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"{on_code}:3:")
    assert "'dataframe' applies to SQL cells only" in line


@pytest.mark.pyodide
async def test_dataframe_key_on_pyodide(cli: Any, tmp_path: Path) -> None:
    # Pyodide's pandas comes from its CDN, which these machines cannot reach (see
    # tests/shipping/test_pyodide_data_stack.py): here the runtime has no frame library.
    nb = _write(
        tmp_path,
        """\
metadata:
  connections:
    mem:
      url: sqlite://
cells:
  - id: plain
    celltype: sql
    connection: mem
    variable: plain
    dataframe: rows
    source: SELECT 3 AS x
  - id: wanted
    celltype: sql
    connection: mem
    variable: wanted
    dataframe: pandas
    allow_error: true
    source: SELECT 4 AS x
  - id: uses
    source: print(type(plain).__name__, plain["x"])
""",
    )
    run = await cli(tmp_path, nb, "--runtime", "pyodide")
    assert run.returncode == 0, run.stderr[-3000:]
    status = {r["id"]: r["status"] for r in run.results}
    assert status == {"plain": "success", "wanted": "allowed-error", "uses": "success"}
    assert "Rows [3]" in _stream(_cell(run, "uses"))
    error = json.dumps(_cell(run, "wanted")["outputs"])
    assert "the package 'pandas' is not installed in this runtime" in error


WATCHED = """\
cells:
  - id: q
    celltype: sql
    variable: r
    dataframe: polars
    source: SELECT 3 AS x
  - id: uses
    source: print("kind", type(r).__name__, r["x"])
"""


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        raw = await stream.readline()
        assert raw, "watch ended early:\n" + "".join(seen)
        seen.append(raw.decode(errors="replace"))
        found = re.search(pattern, seen[-1])
        if found:
            return found


async def test_watch_reruns_a_sql_cell_whose_dataframe_changed(tmp_path: Path) -> None:
    nb = _write(tmp_path, WATCHED)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        "watch",
        str(nb),
        "--runtime",
        "python",
        "--output",
        str(tmp_path / "watched.ipynb"),
        cwd=tmp_path,
        env=_env(tmp_path, {"GITHUB_ACTIONS": "", "CI": ""}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen: list[str] = []
    out: list[str] = []

    async def drain() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            out.append(raw.decode(errors="replace"))

    drainer = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(180):
            await _line(proc.stderr, r"watching ", seen)
            assert "kind" not in "".join(out)  # polars is not here: q failed, uses did not run
            # Only the key changes: the cell re-runs, and the agent reads the new kind.
            new = tmp_path / "nb.tmp"
            new.write_text(WATCHED.replace("dataframe: polars", "dataframe: rows"))
            os.replace(new, nb)
            again = await _line(proc.stderr, r"re-ran (\d+) cell\(s\): (.*) in", seen)
            assert again.group(2) == "q, uses", "".join(seen) + "".join(out)
            os.killpg(proc.pid, signal.SIGINT)
            await _line(proc.stderr, r"watch ended", seen)
            await proc.wait()
        await drainer
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    text = "".join(out) + "".join(seen)
    assert "the package 'polars' is not installed" in text
    assert "kind Rows [3]" in text
