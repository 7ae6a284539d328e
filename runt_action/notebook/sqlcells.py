"""What a SQL cell reads and writes, for the dependency graph and for ``--validate``.

A SQL cell uses the names its placeholders bind and the kernel names its query may scan (a
DuckDB query reads a data frame by its variable's name), and defines its ``variable``; so
``--on-error skip-dependents``, ``--only`` and watch treat it like a code cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from runt_action.errors import NotebookError
from runt_action.notebook.graph import CellDefs, analyze
from runt_action.notebook.model import Notebook, NotebookCell
from runt_action.notebook.sqltext import placeholders, sql_words
from runt_action.notebook.yamlsrc import Located

__all__ = [
    "RUNTIME_KINDS",
    "check_placeholders",
    "connection_kind",
    "sql_connections",
    "sql_defs",
    "url_secrets",
]


def sql_defs(source: str, variable: str | None) -> CellDefs:
    """The SQL cell's facts as the graph reads a code cell's."""
    defines = frozenset({variable} if variable else ())
    return CellDefs(defines=defines, uses=frozenset(sql_words(source) - defines))


def check_placeholders(
    notebook: Notebook,
    located: Located | None = None,
    path: Path | None = None,
    lines: list[str] | None = None,
) -> None:
    """Every ``$name``/``:name`` is a parameter or a name an earlier cell can define.

    An earlier cell that may bind anything (``exec``, ``from x import *``) satisfies every
    name: what it binds cannot be known without running it.
    """
    known: set[str] = set(notebook.parameters)
    anything = False
    for index, cell in enumerate(notebook.cells):
        if cell.celltype == "code":
            facts = analyze(cell.source)
            known |= facts.defines
            anything = anything or facts.opaque
        elif cell.celltype == "sql":
            if not anything:
                where = _Where(located, path or notebook.path, lines or [], index, cell.source_line)
                _check_cell(cell.source, known, where)
            if cell.variable:
                known.add(cell.variable)


@dataclass(frozen=True, slots=True)
class _Where:
    located: Located | None
    path: Path
    lines: list[str]
    index: int
    source_line: int  # the file line of the source's first line (a literal block), or 0

    def at(self, source: str, offset: int) -> tuple[int, int]:
        """The file's line and column of ``source[offset]``, as precisely as known."""
        row_start = source.rfind("\n", 0, offset) + 1
        if self.source_line:
            line = self.source_line + source.count("\n", 0, offset)
            row = source[row_start:].split("\n", 1)[0]
            file_row = self.lines[line - 1] if 0 < line <= len(self.lines) else row
            indent = max(len(file_row) - len(row), 0)
            return line, indent + offset - row_start + 1
        if self.located is None:
            return 0, 0
        mark = self.located.mark(("cells", self.index, "source"))
        return mark.line, mark.column


def _check_cell(source: str, known: Iterable[str], where: _Where) -> None:
    names = set(known)
    for p in placeholders(source):
        if p.name in names:
            continue
        line, column = where.at(source, p.start)
        raise NotebookError(
            f"placeholder {source[p.start : p.end]}: no parameter supplies it and no earlier "
            f"cell defines '{p.name}'",
            file=where.path,
            line=line,
            column=column,
        )


def connection_kind(url: str | None) -> str:
    """``duckdb``, ``sqlite`` or ``sqlalchemy`` (any other URL), as the kernel helper opens it."""
    if not url or url.startswith("duckdb:"):
        return "duckdb"
    if url.startswith("sqlite:"):
        return "sqlite"
    return "sqlalchemy"


# What each runtime can open. Pyodide has sqlite3 in its standard library; DuckDB's Pyodide
# package is not in the distribution this project installs, and SQLAlchemy's drivers need
# sockets a WebAssembly runtime does not have.
RUNTIME_KINDS: dict[str, frozenset[str]] = {
    "python": frozenset({"duckdb", "sqlite", "sqlalchemy"}),
    "pyodide": frozenset({"sqlite"}),
}


def sql_connections(notebook: Notebook, runtime: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Check, before anything starts, that ``runtime`` can open every connection a SQL cell
    uses; returns ``{url_env name: URL}`` of those read from ``environ`` (secrets: masked
    everywhere, and handed to a runtime that does not inherit the environment).

    Raises NotebookError at the first SQL cell whose connection cannot be served.
    """
    found: dict[str, str] = {}
    kinds = RUNTIME_KINDS.get(runtime)
    if kinds is None:  # runtime "none": an agent elsewhere, with its own environment
        return found
    for cell in notebook.cells:
        if cell.celltype != "sql":
            continue
        conn = notebook.metadata.connections.get(cell.connection) if cell.connection else None
        what = f"connection '{cell.connection}'" if cell.connection else "the default connection"
        url = conn.url if conn is not None else None
        if conn is not None and conn.url_env is not None:
            url = environ.get(conn.url_env)
            if not url:
                raise _at(cell, notebook, f"{what}: environment variable {conn.url_env} is not set")
            found[conn.url_env] = url
        kind = connection_kind(url)
        if kind not in kinds:
            shown = {"duckdb": "DuckDB", "sqlite": "SQLite", "sqlalchemy": "a SQLAlchemy URL"}
            raise _at(
                cell,
                notebook,
                f"{what} ({shown[kind]}) cannot run on the {runtime} runtime, which serves "
                f"{', '.join(sorted(kinds))} connections; use --runtime python",
            )
    return found


def _at(cell: NotebookCell, notebook: Notebook, message: str) -> NotebookError:
    return NotebookError(message, file=notebook.path, line=cell.line)


def url_secrets(url: str) -> list[str]:
    """A URL from the environment and its password (also as written, percent-encoded):
    none of them may appear in any output or file."""
    password = urlsplit(url).password
    found = [url]
    if password:
        found += [password, unquote(password)]
    return [s for s in dict.fromkeys(found) if s]
