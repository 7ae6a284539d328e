"""SQL cells in the YAML format: their keys checked at file:line:col, their placeholders
checked against parameters and earlier cells, their connections against the runtime, and
their place in the dependency graph."""

from __future__ import annotations

import pytest

from runt_action.errors import NotebookError
from runt_action.notebook.graph import build_graph
from runt_action.notebook.loader import parse_notebook
from runt_action.notebook.sqlcells import sql_connections, sql_defs, url_secrets

HEAD = """\
metadata:
  connections:
    warehouse:
      url_env: DATABASE_URL
    local:
      url: sqlite:///data/app.db
parameters:
  region: north
cells:
"""


def _error(text: str) -> str:
    with pytest.raises(NotebookError) as info:
        parse_notebook(text, "nb.yml")
    return str(info.value)


def test_the_issue_format_parses() -> None:
    nb = parse_notebook(
        HEAD
        + """\
  - id: sales
    celltype: sql
    variable: sales
    source: |
      SELECT region FROM read_csv('data/sales.csv')
      WHERE region = $region
  - id: users
    celltype: sql
    connection: warehouse
    variable: users
    source: SELECT count(*) AS n FROM users WHERE name = :region
""",
        "nb.yml",
    )
    sales, users = nb.cells
    assert (sales.connection, sales.variable) == (None, "sales")
    assert (users.connection, users.variable) == ("warehouse", "users")
    assert nb.metadata.connections["warehouse"].url_env == "DATABASE_URL"
    assert nb.metadata.connections["local"].url == "sqlite:///data/app.db"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            "  - id: q\n    celltype: sql\n    connection: warehous\n    source: SELECT 1\n",
            "nb.yml:12:17: connection: unknown connection 'warehous'; did you mean 'warehouse'?",
        ),
        (
            "  - id: q\n    celltype: sql\n    variable: 2x\n    source: SELECT 1\n",
            "nb.yml:12:15: variable: '2x' is not a Python variable name",
        ),
        (
            "  - id: q\n    celltype: sql\n    variable: class\n    source: SELECT 1\n",
            "nb.yml:12:15: variable: 'class' is not a Python variable name",
        ),
        (
            "  - id: q\n    variable: x\n    source: x = 1\n",
            "nb.yml:11:15: 'variable' applies to SQL cells only (celltype: sql)",
        ),
        (
            "  - id: q\n    celltype: sql\n    source: |\n      SELECT 1\n      WHERE a = :since\n",
            "nb.yml:14:17: placeholder :since: no parameter supplies it and no earlier cell "
            "defines 'since'",
        ),
    ],
)
def test_bad_sql_cells_are_located(cell: str, expected: str) -> None:
    assert _error(HEAD + cell).startswith(expected)


def test_a_connection_needs_exactly_one_source() -> None:
    text = "metadata:\n  connections:\n    x:\n      url: sqlite://\n      url_env: X\n"
    assert "exactly one of 'url' and 'url_env'" in _error(
        text + "cells:\n  - id: a\n    source: 1\n"
    )


@pytest.mark.parametrize(
    "earlier",
    [
        "  - id: a\n    source: since = '2024-01-01'\n",
        "  - id: a\n    celltype: sql\n    variable: since\n    source: SELECT 1\n",
        "  - id: a\n    source: exec('since = 1')\n",  # may bind anything: accepted
    ],
)
def test_a_placeholder_an_earlier_cell_defines_is_accepted(earlier: str) -> None:
    later = "  - id: b\n    celltype: sql\n    source: SELECT :since, $region\n"
    assert len(parse_notebook(HEAD + earlier + later, "nb.yml").cells) == 2


def test_a_placeholder_defined_only_later_is_refused() -> None:
    cells = (
        "  - id: b\n    celltype: sql\n    source: SELECT :since\n"
        "  - id: a\n    source: since = 1\n"
    )
    assert "placeholder :since" in _error(HEAD + cells)


def test_runtimes_serve_their_connection_kinds() -> None:
    nb = parse_notebook(
        HEAD
        + "  - id: a\n    celltype: sql\n    source: SELECT 1\n"
        + "  - id: b\n    celltype: sql\n    connection: local\n    source: SELECT 1\n",
        "nb.yml",
    )
    assert sql_connections(nb, "python", {}) == {}
    with pytest.raises(NotebookError) as info:
        sql_connections(nb, "pyodide", {})
    assert str(info.value).startswith("nb.yml:10:1: the default connection (DuckDB) cannot run")
    assert sql_connections(nb, "none", {}) == {}  # an agent elsewhere decides


def test_url_env_is_read_and_required() -> None:
    nb = parse_notebook(
        HEAD + "  - id: w\n    celltype: sql\n    connection: warehouse\n    source: SELECT 1\n",
        "nb.yml",
    )
    url = "postgresql://u:s3cr%40t@db:5432/x"
    assert sql_connections(nb, "python", {"DATABASE_URL": url}) == {"DATABASE_URL": url}
    with pytest.raises(NotebookError, match="DATABASE_URL is not set"):
        sql_connections(nb, "python", {})
    with pytest.raises(NotebookError, match=r"a SQLAlchemy URL\) cannot run on the pyodide"):
        sql_connections(nb, "pyodide", {"DATABASE_URL": url})
    assert url_secrets(url) == [url, "s3cr%40t", "s3cr@t"]


def test_sql_cells_in_the_dependency_graph() -> None:
    frames = "import csv\nrows = list(csv.reader(open('x')))\nsince = 1"
    graph = build_graph(
        [("load", frames), ("q", "SELECT * FROM rows WHERE t > :since"), ("use", "print(out)")],
        {"q": sql_defs("SELECT * FROM rows WHERE t > :since", "out")},
    )
    assert graph.deps["q"] == {"load"}
    assert graph.deps["use"] == {"q"}
    assert graph.dependents(["load"]) == {"q", "use"}


def test_sql_cells_survive_conversion_both_ways() -> None:
    from runt_action.notebook.ipynb_input import notebook_to_yaml

    text = HEAD + "  - id: w\n    celltype: sql\n    connection: warehouse\n    variable: n\n"
    nb = parse_notebook(text + "    source: SELECT 1\n", "nb.yml")
    back = parse_notebook(notebook_to_yaml(nb), "back.yml")
    assert back.metadata.connections == nb.metadata.connections
    [cell] = back.cells
    assert (cell.celltype, cell.connection, cell.variable) == ("sql", "warehouse", "n")
