"""SQL cells against a real PostgreSQL server (a throw-away cluster, tests/e2e/postgres.py),
through the CLI on the python runtime: a URL from the environment (url_env), parameters bound
as data, errors at the SQL's line, and neither the URL nor a password in any output or file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.postgres import Postgres, free_port, postgres_cluster

INJECTION = "x'; DROP TABLE users; --"


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_cluster() as cluster:
        yield cluster


def _leaks(run: Any, tmp_path: Path, secrets: list[str]) -> list[str]:
    """Where any of ``secrets`` appears: the run's output (GitHub's ::add-mask:: commands
    aside, which exist to hide them) and every file it left."""
    places = {"stdout": _unmasked(run.stdout), "stderr": run.stderr}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return [
        f"{secret!r} in {where}"
        for where, text in places.items()
        for secret in secrets
        if secret in text
    ]


def _unmasked(stdout: str) -> str:
    return "\n".join(line for line in stdout.splitlines() if not line.startswith("::add-mask::"))


def _outputs(run: Any, cell_id: str) -> str:
    assert run.ipynb is not None, run.stderr[-3000:]
    [cell] = [c for c in run.ipynb["cells"] if c["id"] == cell_id]
    return json.dumps(cell["outputs"])


NOTEBOOK = f"""\
metadata:
  connections:
    warehouse:
      url_env: DATABASE_URL
parameters:
  who: {json.dumps(INJECTION)}
  since: "2024-01-01"
cells:
  - id: make
    celltype: sql
    connection: warehouse
    source: |
      CREATE TABLE users (name text, created_at date)
  - id: fill
    celltype: sql
    connection: warehouse
    variable: added
    source: |
      INSERT INTO users VALUES
        (:who, DATE '2025-02-01'), ('old', DATE '2020-01-01'), ('new', DATE '2025-03-01')
  - id: recent
    celltype: sql
    connection: warehouse
    variable: recent
    source: |
      SELECT count(*) AS n
      FROM users
      WHERE created_at > CAST(:since AS date)
  - id: check
    source: |
      assert added == 3, added
      assert recent["n"] == [2], recent
      print("recent", recent["n"][0])
  - id: still_there
    celltype: sql
    connection: warehouse
    variable: names
    source: SELECT name FROM users WHERE name = $who
  - id: typo
    celltype: sql
    connection: warehouse
    source: |
      SELECT name
      FROM users
      WHERE name =
"""


async def test_postgres_end_to_end(cli: Any, tmp_path: Path, pg: Postgres) -> None:
    nb = tmp_path / "pg.yml"
    nb.write_text(NOTEBOOK)
    run = await cli(tmp_path, nb, "--runtime", "python", env={"DATABASE_URL": pg.url()})
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    status = {r["id"]: r["status"] for r in run.results}
    assert status == {
        "parameters": "success",
        "make": "success",
        "fill": "success",
        "recent": "success",
        "check": "success",
        "still_there": "success",
        "typo": "failed",
    }, run.stdout[-3000:]
    assert "1 row" in _outputs(run, "still_there")  # the injection string is a value
    typo = _outputs(run, "typo")
    assert "syntax error at end of input" in typo
    # PostgreSQL names the position: the end of the query, its line 3 (YAML line 45).
    errors = [c for c in run.workflow_commands() if c.startswith("::error") and "typo" in c]
    assert errors and "line=45" in errors[0], run.workflow_commands()
    assert not _leaks(run, tmp_path, [pg.url(), pg.password])


async def test_wrong_password_and_refused_connection_fail_without_the_url(
    cli: Any, tmp_path: Path, pg: Postgres
) -> None:
    wrong = "Wr0ng-Passw0rd-" + pg.password[:6]
    down = free_port()  # nothing listens there
    nb = tmp_path / "bad.yml"
    nb.write_text(
        """\
metadata:
  connections:
    badpw:
      url_env: BAD_URL
    down:
      url_env: DOWN_URL
cells:
  - id: password
    celltype: sql
    connection: badpw
    allow_error: true
    source: SELECT 1
  - id: refused
    celltype: sql
    connection: down
    allow_error: true
    source: SELECT 1
"""
    )
    env = {"BAD_URL": pg.url(password=wrong), "DOWN_URL": pg.url(port=down)}
    run = await cli(tmp_path, nb, "--runtime", "python", env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert [r["status"] for r in run.results] == ["allowed-error", "allowed-error"]
    assert "password authentication failed" in _outputs(run, "password")
    assert "Connection refused" in _outputs(run, "refused")
    assert not _leaks(run, tmp_path, [*env.values(), wrong, pg.password])


async def test_an_unset_url_env_is_refused_before_the_run(
    cli: Any, tmp_path: Path, pg: Postgres
) -> None:
    nb = tmp_path / "pg.yml"
    nb.write_text(NOTEBOOK)
    run = await cli(tmp_path, nb, "--runtime", "python")
    assert run.returncode == 2, run.stderr[-3000:]
    assert f"{nb}:9:" in run.stderr and "DATABASE_URL is not set" in run.stderr
