"""The SQL executor's kernel call, run in this interpreter as a kernel runs it: the cell's
text is data (never code), values are bound by the driver, errors name the SQL's line."""

from __future__ import annotations

import ast
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from runt_action.agents.executors.sql import HELPER_MODULE, helper_source, invocation


@pytest.fixture(autouse=True)
def fresh_helper() -> Iterator[None]:
    """Each test installs the helper as a fresh kernel would (and closes what it opened)."""
    sys.modules.pop(HELPER_MODULE, None)
    yield
    helper = sys.modules.pop(HELPER_MODULE, None)
    if helper is not None:
        helper.close_all()


def _run(ns: dict[str, Any], sql: str, cell: str = "q", **spec: Any) -> None:
    code = invocation({"cell": cell, "sql": sql, **spec})
    exec(compile(code, f"<cell {cell}>", "exec"), ns)


def test_the_code_sent_is_fixed_and_the_sql_is_one_string_literal() -> None:
    hostile = 'x"); __import__("os").system("echo pwned") #\n$who'
    code = invocation({"cell": "q", "sql": hostile, "variable": "v"})
    assert code.count("\n") == 0  # one line: tracebacks' other frames stay on line 1
    tree = ast.parse(code)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert helper_source() in strings
    [spec] = [s for s in strings if isinstance(s, str) and s.startswith("{")]
    assert hostile in __import__("json").loads(spec)["sql"]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert names == {"__import__", "exec", "compile", "globals", "m"}


def test_values_are_bound_not_spliced(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {"who": "x'; DROP TABLE users; --", "n": 2}
    conn = {"name": "mem", "url": "sqlite://"}
    _run(ns, "CREATE TABLE users (name TEXT)", connection=conn)
    _run(ns, "INSERT INTO users VALUES ($who), (:n)", connection=conn, variable="added")
    _run(ns, "SELECT name FROM users WHERE name = :who", connection=conn, variable="rows")
    assert ns["added"] == 2
    assert ns["rows"] == [("x'; DROP TABLE users; --",)]
    assert ns["rows"].columns == ["name"] and ns["rows"]["name"] == [ns["who"]]
    assert "1 row ·" in capsys.readouterr().out


def test_a_missing_value_is_an_error_naming_it() -> None:
    with pytest.raises(Exception, match="placeholder since: no parameter or variable") as info:
        _run({}, "SELECT :since")
    assert type(info.value).__name__ == "SqlError"


def test_a_duckdb_error_is_raised_at_the_sql_line() -> None:
    with pytest.raises(Exception, match="syntax error") as info:
        _run({}, "SELECT 1\nFROM range(3)\nWHERE WHERE", cell="bad")
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == ("<cell bad>", 3)  # the innermost frame in the cell: the SQL's line
    assert info.value._render_traceback_()[0] == 'File "<cell bad>", line 3'  # type: ignore[attr-defined]


def test_only_fifty_rows_are_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    _run(ns, "SELECT range AS i FROM range(120)", variable="r")
    assert len(ns["r"]) == 120
    out = capsys.readouterr().out
    assert "50 of 120 rows" in out and "<td>49</td>" in out and "<td>50</td>" not in out


def test_an_environment_url_never_shows_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://runt:S3cretPassw0rd@127.0.0.1:1/db"
    monkeypatch.setenv("SECRET_DB_URL", url)
    conn = {"name": "w", "url_env": "SECRET_DB_URL"}
    with pytest.raises(Exception, match="OperationalError") as info:
        _run({}, "SELECT 1", connection=conn)
    text = str(info.value) + "".join(info.value._render_traceback_())  # type: ignore[attr-defined]
    assert url not in text and "S3cretPassw0rd" not in text


def test_duckdb_statements_without_rows_report_the_affected_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns: dict[str, Any] = {}
    _run(ns, "CREATE TABLE t (a INT)", variable="made")
    _run(ns, "-- three rows\nINSERT INTO t VALUES (1), (2), (3)", variable="added")
    _run(ns, "SELECT count(*) AS Count FROM t", variable="counted")  # a query stays a table
    assert (ns["made"], ns["added"]) == (None, 3)
    assert ns["counted"] == [(3,)]
    out = capsys.readouterr().out
    assert "3 rows affected" in out and "1 row ·" in out
