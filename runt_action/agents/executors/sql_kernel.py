"""The SQL cell helper that runs inside the kernel (a Jupyter kernel or Pyodide).

Why in the kernel: the result must land in the user's namespace as ``variable``, and a query
binds the kernel's variables. The agent sends a fixed call, ``run(spec_json, globals())``;
the query text and the connection's name arrive as data in that JSON, and bound values are
read here from the namespace and passed to the driver as parameters, never spliced into SQL.

Plain standard-library Python: the executor ships this source (after notebook/sqltext.py's,
whose ``rewrite`` and ``sql_words`` it uses) into the kernel, where the package is not
importable. Driver modules are imported with importlib so Pyodide does not try to load them
from its import scan of the sent code.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import importlib.util
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:  # in the kernel, sqltext's source precedes this one in the same module
    from runt_action.notebook.sqltext import rewrite, sql_words

__all__ = ["Rows", "SqlError", "close_all", "run"]

SHOWN_ROWS = 50  # rows rendered in the cell's table; the variable holds them all
_CELL_WIDTH = 40  # characters of one value in the text/plain table
_conns: dict[str, _Conn] = {}


class SqlError(Exception):
    """The database's error, at the line of the query it names (1 when it names none)."""

    def __init__(self, message: str, cell_id: str, line: int) -> None:
        super().__init__(message)
        self.cell_id = cell_id
        self.line = line

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of the helper's frames; the line names the SQL's line.
        return [f'File "<cell {self.cell_id}>", line {self.line}', f"SqlError: {self}"]


class Rows(list):  # type: ignore[type-arg]
    """A result without pandas: a list of row tuples that also knows its ``columns``;
    ``rows["name"]`` is that column's values, as a data frame's column would be."""

    def __init__(self, rows: list[tuple[Any, ...]], columns: list[str]) -> None:
        super().__init__(rows)
        self.columns = columns

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                index = self.columns.index(key)
            except ValueError:
                raise KeyError(key) from None
            return [row[index] for row in self]
        return super().__getitem__(key)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self]


class _Conn:
    """One open connection of this run: its kind (duckdb, sqlite, sqlalchemy) and what it
    must never show (a URL from the environment and its password)."""

    def __init__(self, kind: str, handle: Any, secrets: list[str]) -> None:
        self.kind = kind
        self.handle = handle
        self.secrets = secrets

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        if self.kind == "sqlalchemy":
            self.handle.dispose()
        else:
            self.handle.close()


def _secrets_of(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [url]
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return [s for s in found if len(s) >= 3]


def _open(spec: dict[str, Any]) -> _Conn:
    """Open the connection ``spec`` names: DuckDB in memory by default, else by URL."""
    url = spec.get("url")
    secrets: list[str] = []
    if spec.get("url_env"):
        name = spec["url_env"]
        url = os.environ.get(name)
        if not url:
            raise LookupError(f"environment variable {name} is not set in the runtime")
        secrets = _secrets_of(url)
    if not url or url.startswith("duckdb:"):
        duckdb = _module("duckdb", "DuckDB")
        path = url.split("://", 1)[1].lstrip("/") if url and "://" in url else ""
        if url and url.startswith("duckdb:////"):
            path = "/" + path
        return _Conn("duckdb", duckdb.connect(path or ":memory:"), secrets)
    if url.startswith("sqlite:"):
        sqlite3 = _module("sqlite3", "sqlite3")
        rest = url.split("://", 1)[1] if "://" in url else ""
        path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel, sqlite:////abs
        handle = sqlite3.connect(path or ":memory:", isolation_level=None)
        return _Conn("sqlite", handle, secrets)
    sqlalchemy = _module("sqlalchemy", "SQLAlchemy")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # the driver the project ships
    engine = sqlalchemy.create_engine(url, pool_pre_ping=False)
    try:
        engine.connect().close()  # a wrong URL or password fails here, once
    except Exception:
        engine.dispose()
        raise
    return _Conn("sqlalchemy", engine, secrets)


def _module(name: str, shown: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"{shown} is not installed in this runtime") from None


def _connection(spec: dict[str, Any]) -> _Conn:
    key = str(spec.get("name") or "")
    conn = _conns.get(key)
    if conn is None:
        conn = _conns[key] = _open(spec)
    return conn


def close_all() -> None:
    """Close every connection of this run (the agent calls it at shutdown)."""
    while _conns:
        _, conn = _conns.popitem()
        with contextlib.suppress(Exception):
            conn.close()


def _values(names: list[str], ns: dict[str, Any]) -> list[Any]:
    values = []
    for name in names:
        if name not in ns:
            raise NameError(f"placeholder {name}: no parameter or variable named '{name}'")
        values.append(ns[name])
    return values


_DATAFRAME_MODULES = ("pandas", "polars", "pyarrow")
_NO_ROWS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "COPY"})
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(\w+)", re.S)


def _first_word(sql: str) -> str:
    """The statement's first keyword, comments skipped (upper case; "" when none)."""
    found = _FIRST_WORD.match(sql)
    return found.group(1).upper() if found else ""


class _ArrowStream:
    """Only a frame's Arrow C stream: DuckDB reads a polars frame through it without pyarrow
    (which it otherwise needs for polars, and which a kernel with polars may well lack)."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._frame.__arrow_c_stream__(requested_schema)


def _scannable(obj: Any) -> Any:
    polars = type(obj).__module__.split(".")[0] == "polars"
    if polars and hasattr(obj, "__arrow_c_stream__") and not _has_module("pyarrow"):
        return _ArrowStream(obj)
    return obj


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _execute(conn: _Conn, sql: str, ns: dict[str, Any]) -> tuple[list[str] | None, Any, int]:
    """Run the query: (columns or None for no rows, the rows, the affected count)."""
    if conn.kind == "sqlalchemy":
        text, names = rewrite(sql, "named")
        params = dict(zip(names, _values(names, ns), strict=True))
        sqlalchemy = importlib.import_module("sqlalchemy")
        with conn.handle.begin() as c:
            result = c.execute(sqlalchemy.text(text), params)
            if result.returns_rows:
                return list(result.keys()), [tuple(r) for r in result.fetchall()], -1
            return None, [], result.rowcount
    text, names = rewrite(sql, "qmark")
    values = _values(names, ns)
    if conn.kind == "duckdb":
        registered = []
        for word in sql_words(sql):  # kernel data frames, scanned by their variable's name
            obj = ns.get(word)
            if type(obj).__module__.split(".")[0] in _DATAFRAME_MODULES:
                conn.handle.register(word, _scannable(obj))
                registered.append(word)
        try:
            cur = conn.handle.execute(text, values)
            if cur.description is None:
                return None, [], -1
            columns = [d[0] for d in cur.description]
            if columns == ["Count"] and _first_word(sql) in _NO_ROWS:
                # DuckDB answers a statement without rows with its count as a one-column table.
                counted = cur.fetchall()
                return None, [], int(counted[0][0]) if len(counted) == 1 else -1
            return columns, cur.fetchall(), -1
        finally:
            for word in registered:
                conn.handle.unregister(word)
    cur = conn.handle.execute(text, values)
    if cur.description is None:
        return None, [], cur.rowcount
    return [d[0] for d in cur.description], cur.fetchall(), -1


_FRAME_KINDS = ("pandas", "polars", "rows")


def _frame_module(want: str | None) -> Any:
    """The module the result's frame is made with (None: :class:`Rows`), found before the
    query runs: a cell asking for a library the kernel lacks fails without touching data."""
    if want not in (None, *_FRAME_KINDS):
        raise ValueError(f"dataframe: {want!r} is not one of {', '.join(_FRAME_KINDS)}")
    if want == "rows":
        return None
    try:
        return importlib.import_module(want or "pandas")
    except ImportError:
        if want is None:
            return None  # the default: pandas when importable, else rows
        raise ImportError(
            f"dataframe: {want} was asked for, but the package '{want}' is not installed in "
            "this runtime (add it to the requirements or metadata.packages)"
        ) from None


def _frame(columns: list[str], rows: list[tuple[Any, ...]], module: Any) -> Any:
    """A pandas or polars DataFrame of the rows, or :class:`Rows` when ``module`` is None."""
    if module is None:
        return Rows(rows, columns)
    if module.__name__ == "polars":
        return module.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
    return module.DataFrame.from_records(rows, columns=columns)


def _text(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _bundle(columns: list[str], rows: list[tuple[Any, ...]], note: str) -> dict[str, str]:
    """text/plain and text/html of the first SHOWN_ROWS rows, with the count line."""
    shown = [[_text(v) for v in row] for row in rows[:SHOWN_ROWS]]
    widths = [len(c) for c in columns]
    for row in shown:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=False)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) for row in shown]
    lines.append(note)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in shown
    )
    table = (
        f'<table class="runt-sql"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f'<p class="runt-sql-count">{html.escape(note)}</p>'
    )
    return {"text/plain": "\n".join(lines), "text/html": table}


def _count_note(total: int, seconds: float) -> str:
    shown = min(total, SHOWN_ROWS)
    rows = "row" if total == 1 else "rows"
    head = f"{shown:,} of {total:,} {rows}" if shown < total else f"{total:,} {rows}"
    return f"{head} · {seconds:.3f} s"


def _display(bundle: dict[str, str]) -> None:
    from IPython.display import display  # the kernel's, or the Pyodide runtime's shim

    display(bundle, raw=True)  # type: ignore[no-untyped-call]


_LINE = re.compile(r"\bLINE (\d+):")


def _error_line(exc: BaseException, sql: str) -> int:
    """The query's line the driver names (PostgreSQL's position, DuckDB's "LINE n:")."""
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    position = getattr(diag, "statement_position", None) if diag is not None else None
    if position:
        try:
            # "at end of input" points past a trailing newline: the query's last line.
            offset = min(max(int(position) - 1, 0), len(sql.rstrip()))
            return sql.count("\n", 0, offset) + 1
        except ValueError:
            pass
    found = _LINE.search(str(orig))
    if found:
        line = int(found.group(1))
        return line if 1 <= line <= sql.count("\n") + 1 else 1
    return 1


def _message(exc: BaseException) -> str:
    """The database's own words: SQLAlchemy's wrapper adds the SQL and a link, not facts."""
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    text = str(inner).strip() or type(inner).__name__
    return f"{type(inner).__name__}: {text}"


def _fail(
    exc: BaseException, sql: str, cell_id: str, conn: _Conn | None, secrets: list[str]
) -> None:
    message = _message(exc)
    for scrub in ([conn.scrub] if conn is not None else []) + [_Conn("", None, secrets).scrub]:
        message = scrub(message)
    line = _error_line(exc, sql)
    error = SqlError(message, cell_id, line)
    # Raised from a frame named as the cell, at the SQL's line: tracebacks on both runtimes
    # then point at it (report/annotations.py maps it to the YAML line).
    code = compile("\n" * (line - 1) + "raise error from None", f"<cell {cell_id}>", "exec")
    exec(code, {"error": error})


def run(spec_json: str, ns: dict[str, Any]) -> None:
    """Run one SQL cell: ``spec_json`` is {"cell", "sql", "connection", "variable", "frame"}."""
    spec = json.loads(spec_json)
    sql: str = spec["sql"]
    cell_id: str = spec["cell"]
    conn_spec: dict[str, Any] = spec.get("connection") or {}
    conn = None
    secrets: list[str] = []
    if conn_spec.get("url_env") and os.environ.get(conn_spec["url_env"]):
        secrets = _secrets_of(os.environ[conn_spec["url_env"]])
    variable = spec.get("variable")
    try:
        module = _frame_module(spec.get("frame"))
        t0 = time.perf_counter()  # the query's time, not the frame library's import
        conn = _connection(conn_spec)
        columns, rows, affected = _execute(conn, sql, ns)
        seconds = time.perf_counter() - t0
        result = _frame(columns, rows, module) if columns is not None and variable else None
    except Exception as exc:
        _fail(exc, sql, cell_id, conn, secrets)
        return
    if columns is None:
        count = "" if affected < 0 else f"{affected:,} {'row' if affected == 1 else 'rows'} "
        note = f"{count}affected · {seconds:.3f} s" if count else f"done · {seconds:.3f} s"
        _display({"text/plain": note, "text/html": f"<p>{html.escape(note)}</p>"})
        if variable:
            ns[variable] = affected if affected >= 0 else None  # None: the driver did not say
        return
    if variable:
        ns[variable] = result
    _display(_bundle(columns, rows, _count_note(len(rows), seconds)))
