"""SQL cells: the query runs in the kernel, through a fixed call of the kernel-side helper.

Why in the kernel: ``variable`` must land in the user's namespace, placeholders bind the
kernel's variables and parameters, and DuckDB scans the kernel's data frames. The code sent
is always the same two statements; the cell's SQL, its connection (a URL, or the name of the
environment variable holding one: the URL itself never leaves the kernel's environment) and
its variable travel inside one JSON string literal that the helper decodes. Nothing of the
cell is ever spliced into code, and bound values never leave the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from runt_action.agents.engine import ExecOutcome, ExecStatus
from runt_action.schema.events import SQL_CONNECTIONS_KEY, SQL_DATAFRAMES_KEY

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine, OutputSink
    from runt_action.agents.executors.base import Execution
    from runt_action.schema.state import NotebookState

__all__ = [
    "HELPER_MODULE",
    "SqlExecutor",
    "connections_of",
    "dataframe_of",
    "helper_source",
    "invocation",
]

HELPER_MODULE = "runt_sql_cell"  # the helper's name in the kernel's sys.modules
_CLOSE_GRACE_S = 5.0  # closing connections at shutdown never holds the shutdown longer


@cache
def helper_source() -> str:
    """notebook/sqltext.py then agents/executors/sql_kernel.py, as one module's source."""
    parts = [
        resources.files("runt_action.notebook").joinpath("sqltext.py").read_text("utf-8"),
        resources.files("runt_action.agents.executors")
        .joinpath("sql_kernel.py")
        .read_text("utf-8"),
    ]
    future = "from __future__ import annotations"
    body = "\n".join(p.replace(future + "\n", "\n") for p in parts)
    return future + "\n" + body


def _module_expr() -> str:
    """An expression: the helper module, installed into ``sys.modules`` on first use (and
    again after a kernel restart), binding no name in the user's namespace."""
    src = json.dumps(helper_source())
    return (
        f'(__import__("sys").modules.get("{HELPER_MODULE}") or '
        f'__import__("sys").modules.setdefault("{HELPER_MODULE}", '
        f'(lambda m: (exec(compile({src}, "<runt-sql>", "exec"), m.__dict__), m)[1])'
        f'(__import__("types").ModuleType("{HELPER_MODULE}"))))'
    )


def invocation(spec: dict[str, Any]) -> str:
    """The code one SQL cell runs: one line (so a traceback's other frames stay on line 1),
    whose value is None (no execute_result)."""
    return f"{_module_expr()}.run({json.dumps(json.dumps(spec))}, globals())"


def connections_of(state: NotebookState) -> dict[str, dict[str, str]]:
    """The notebook's SQL connections, as the orchestrator wrote them into its metadata."""
    raw = state.metadata.get(SQL_CONNECTIONS_KEY)
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): dict(v) for k, v in found.items()} if isinstance(found, dict) else {}


def dataframe_of(state: NotebookState, cell_id: str) -> str | None:
    """What the cell's result becomes (pandas, polars, rows), when its YAML says; None = the
    helper's default (pandas when importable, else rows)."""
    raw = state.metadata.get(SQL_DATAFRAMES_KEY)
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return None
    kind = found.get(cell_id) if isinstance(found, dict) else None
    return kind if isinstance(kind, str) else None


class SqlExecutor:
    """Runs ``sql`` cells through the agent's engine; connections stay open in the kernel
    for the run and are closed at shutdown."""

    cell_types = frozenset({"sql"})
    capability = "canExecuteSql"

    def __init__(self) -> None:
        self._engine: Engine | None = None

    async def execute(self, run: Execution, sink: OutputSink) -> ExecOutcome:
        cell = run.cell
        connections = connections_of(run.store.state)
        name = cell.sql_connection_id
        if name and name not in connections:
            sink.error("SqlError", f"unknown connection '{name}' (metadata.connections)", [])
            return ExecOutcome(ExecStatus.ERROR)
        spec = {
            "cell": cell.id,
            "sql": cell.source,
            "connection": {"name": name or "", **connections.get(name or "", {})},
            "variable": cell.sql_result_variable,
            "frame": dataframe_of(run.store.state, cell.id),
        }
        self._engine = run.engine
        return await run.engine.execute(invocation(spec), sink, cell_id=cell.id)

    async def interrupt(self, run: Execution) -> None:
        await run.engine.interrupt()

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        code = (
            f'__import__("sys").modules.get("{HELPER_MODULE}") and '
            f'__import__("sys").modules["{HELPER_MODULE}"].close_all()'
        )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.execute(code, _Discard()), _CLOSE_GRACE_S)


class _Discard:
    """Where the shutdown call's (absent) outputs go."""

    def stream(self, name: str, text: str) -> None:
        return None

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        return None

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        return None

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        return None

    def clear(self, wait: bool = False) -> None:
        return None
