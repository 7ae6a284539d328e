"""SQL cells through the CLI: DuckDB and SQLite, real, on the python runtime; SQLite on
Pyodide; parameters bound as data; errors at the SQL's YAML line; big results bounded.

(DuckDB on Pyodide is refused before the run: its Pyodide package is not in the local
distribution, see test_pyodide_refuses_duckdb_before_the_run.)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from runt_action.notebook import load_notebook

INJECTION = "x'; DROP TABLE users; --"
WHO = json.dumps(INJECTION)  # a YAML double-quoted scalar


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nb.yml"
    path.write_text(text)
    return path


def _cell(run: Any, cell_id: str) -> dict[str, Any]:
    assert run.ipynb is not None, run.stderr[-3000:]
    for cell in run.ipynb["cells"]:
        if cell["id"] == cell_id:
            return dict(cell)
    raise KeyError(cell_id)


def _text(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell["outputs"]:
        data = out.get("data", {})
        parts.append("".join(data.get("text/plain", out.get("text", ""))))
        parts.append("".join(data.get("text/html", "")))
        parts.append("".join(out.get("traceback", [])))
    return "\n".join(parts)


MIXED = f"""\
metadata:
  connections:
    app:
      url: sqlite:///app.db
parameters:
  region: north
  who: {WHO}
cells:
  - id: sales
    celltype: sql
    variable: sales
    source: |
      SELECT region, sum(amount) AS total
      FROM read_csv('sales.csv')
      WHERE region = $region
      GROUP BY region
  - id: check
    source: |
      assert sales["total"] == [17], sales
      assert sales.columns == ["region", "total"]
      print("total", sales["total"][0])
  - id: make
    celltype: sql
    connection: app
    source: CREATE TABLE users (name TEXT)
  - id: insert
    celltype: sql
    connection: app
    variable: inserted
    source: INSERT INTO users VALUES (:who), ($region)
  - id: users
    celltype: sql
    connection: app
    variable: users
    source: SELECT name FROM users WHERE name = :who
  - id: after
    source: |
      assert inserted == 2
      assert users["name"] == [who], users
      print("users ok")
"""


async def test_sql_and_python_cells_mix_on_the_python_runtime(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text("region,amount\nnorth,10\nsouth,5\nnorth,7\n")
    log = tmp_path / "events.sqlite"
    run = await cli(
        tmp_path, _write(tmp_path, MIXED), "--runtime", "python", "--sync-log", str(log)
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert [r["status"] for r in run.results] == ["success"] * 7
    sales = _cell(run, "sales")
    assert "1 row ·" in _text(sales) and "<td>north</td><td>17</td>" in _text(sales)
    assert "2 rows affected" in _text(_cell(run, "insert"))
    assert "users ok" in _text(_cell(run, "after"))
    # The injection was data: the table is still there, holding the string.
    with sqlite3.connect(tmp_path / "app.db") as db:
        rows = db.execute("SELECT name FROM users ORDER BY name").fetchall()
    assert rows == [("north",), (INJECTION,)]
    # Jupyter opens the cell as jupysql's %%sql; the connection and variable are kept.
    assert "".join(_cell(run, "users")["source"]).startswith("%%sql users <<\nSELECT name")
    assert _cell(run, "users")["metadata"]["runt"]["sql"] == {
        "connection": "app",
        "variable": "users",
    }
    assert "```sql" in run.summary
    # ... and runs again from the executed notebook as the same SQL cell.
    again = {c.id: c for c in load_notebook(tmp_path / "executed.ipynb").cells}["users"]
    assert (again.celltype, again.connection, again.variable) == ("sql", "app", "users")
    assert again.source == "SELECT name FROM users WHERE name = :who"
    # runt's app sees SQL cells: their connection and variable, and a runtime that runs them.
    events = _events(log)
    assert ("v1.SqlConnectionChanged", {"cellId": "users", "connectionId": "app"}) in [
        (n, {k: a[k] for k in ("cellId", "connectionId") if k in a}) for n, a in events
    ]
    assert any(
        n == "v1.SqlResultVariableChanged"
        and a == {**a, "cellId": "sales", "resultVariable": "sales"}
        for n, a in events
    )
    [started] = [a for n, a in events if n == "v1.RuntimeSessionStarted"]
    assert started["capabilities"]["canExecuteSql"] is True


def _events(log: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(log) as db:
        [table] = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = db.execute(f"SELECT name, args FROM {table} ORDER BY seqNum").fetchall()
    return [(name, json.loads(args) if args else {}) for name, args in rows]


async def test_sql_error_points_at_the_sql_line_and_fails_like_a_code_cell(
    cli: Any, tmp_path: Path
) -> None:
    nb = _write(
        tmp_path,
        """\
metadata:
  connections:
    app:
      url: sqlite:///app.db
cells:
  - id: good
    celltype: sql
    variable: one
    source: SELECT 1 AS x
  - id: typo
    celltype: sql
    variable: broken
    source: |
      SELECT 1 AS x
      FORM nowhere
  - id: uses
    source: print(broken)
  - id: missing
    celltype: sql
    connection: app
    allow_error: true
    source: SELECT * FROM no_such_table
  - id: independent
    source: print("still runs", one["x"])
""",
    )
    run = await cli(tmp_path, nb, "--runtime", "python", "--on-error", "skip-dependents")
    assert run.returncode == 1, run.stderr[-3000:]
    status = {r["id"]: r["status"] for r in run.results}
    assert status == {
        "good": "success",
        "typo": "failed",
        "uses": "skipped",
        "missing": "allowed-error",
        "independent": "success",
    }
    typo = _text(_cell(run, "typo"))
    assert "syntax error" in typo and 'File "<cell typo>", line 2' in typo
    # The annotation points at "FORM nowhere": line 15 of the YAML file.
    errors = [c for c in run.workflow_commands() if c.startswith("::error") and "typo" in c]
    assert errors and "line=15" in errors[0], run.workflow_commands()
    assert "no such table: no_such_table" in _text(_cell(run, "missing"))


async def test_a_million_rows_land_in_the_variable_and_only_50_are_rendered(
    cli: Any, tmp_path: Path
) -> None:
    nb = _write(
        tmp_path,
        """\
cells:
  - id: big
    celltype: sql
    variable: big
    source: SELECT range AS n, 'row ' || range AS label FROM range(1000000)
  - id: count
    source: print(len(big), big[999999])
""",
    )
    run = await cli(tmp_path, nb, "--runtime", "python")
    assert run.returncode == 0, run.stderr[-3000:]
    big = _cell(run, "big")
    shown = _text(big)
    assert "50 of 1,000,000 rows" in shown
    assert "row 49" in shown and "row 50<" not in shown and "row 999999" not in shown
    assert len(json.dumps(big["outputs"])) < 20_000
    assert "1000000 (999999, 'row 999999')" in _text(_cell(run, "count"))


PYODIDE = f"""\
metadata:
  connections:
    mem:
      url_env: MEM_DB               # Pyodide gets the variable as it gets secret parameters
parameters:
  who: {WHO}
cells:
  - id: make
    celltype: sql
    connection: mem
    source: CREATE TABLE users (name TEXT)
  - id: insert
    celltype: sql
    connection: mem
    source: INSERT INTO users VALUES ($who)
  - id: users
    celltype: sql
    connection: mem
    variable: users
    source: SELECT name, (SELECT count(*) FROM users) AS n FROM users
  - id: check
    source: |
      assert users["name"] == [who] and users["n"] == [1], users
      print("pyodide ok")
  - id: bad
    celltype: sql
    connection: mem
    source: |
      SELECT *
      FROM no_such_table
"""


async def test_sqlite_on_pyodide(cli: Any, tmp_path: Path) -> None:
    env = {"MEM_DB": "sqlite://"}
    run = await cli(tmp_path, _write(tmp_path, PYODIDE), "--runtime", "pyodide", env=env)
    assert run.returncode == 1, run.stderr[-3000:]
    status = {r["id"]: r["status"] for r in run.results}
    assert status["check"] == "success" and status["bad"] == "failed", status
    assert "pyodide ok" in _text(_cell(run, "check"))
    assert "no such table: no_such_table" in _text(_cell(run, "bad"))


async def test_pyodide_refuses_duckdb_before_the_run(cli: Any, tmp_path: Path) -> None:
    nb = _write(tmp_path, "cells:\n  - id: q\n    celltype: sql\n    source: SELECT 1\n")
    run = await cli(tmp_path, nb, "--runtime", "pyodide")
    assert run.returncode == 2, run.stderr[-3000:]
    assert f"{nb}:2:" in run.stderr
    assert "DuckDB" in run.stderr and "pyodide runtime" in run.stderr
    assert "Traceback" not in run.stderr
    checked = await cli(tmp_path, nb, "--runtime", "pyodide", "--validate")
    assert checked.returncode == 2
    [line] = checked.stderr.strip().splitlines()
    assert line.startswith(f"{nb}:2:") and "DuckDB" in line


async def test_validate_rejects_an_unknown_connection(cli: Any, tmp_path: Path) -> None:
    nb = _write(
        tmp_path,
        "cells:\n  - id: q\n    celltype: sql\n    connection: nope\n    source: SELECT 1\n",
    )
    run = await cli(tmp_path, nb, "--validate")
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"{nb}:4:") and "unknown connection 'nope'" in line
