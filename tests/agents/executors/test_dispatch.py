"""The agent runs each cell kind through its executor and announces exactly what it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink
from runt_action.agents.executors import CodeExecutor, Execution, capabilities_of
from runt_action.agents.registry import make_engine
from runt_action.livestore.server import SyncServer
from tests.agents.conftest import Notebook, start_agent, stop_agent


class EchoSql:
    """A stand-in executor for a kind the core has no branch for: proves dispatch is by table."""

    cell_types = frozenset({"sql"})
    capability = "canExecuteSql"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.closed = False

    async def execute(self, run: Execution, sink: OutputSink) -> ExecOutcome:
        self.seen.append(run.cell.source)
        sink.display({"text/plain": f"rows for {run.cell.source}"})
        return ExecOutcome(ExecStatus.OK)

    async def interrupt(self, run: Execution) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


def test_capabilities_follow_the_executors() -> None:
    assert capabilities_of([CodeExecutor()]) == {
        "canExecuteCode": True,
        "canExecuteSql": False,
        "canExecuteAi": False,
    }
    assert capabilities_of([CodeExecutor(), EchoSql()])["canExecuteSql"] is True


async def test_each_kind_reaches_its_executor(
    server: SyncServer, store_id: str, notebook: Notebook, tmp_path: Path
) -> None:
    sql = EchoSql()
    h = await start_agent(
        server, store_id, make_engine("python", cwd=tmp_path), executors=[CodeExecutor(), sql]
    )
    try:
        await notebook.wait(lambda s: any(x.can_execute_sql for x in s.sessions.values()))
        q_sql = notebook.request(notebook.add_cell("SELECT 1", cell_type="sql"))
        q_code = notebook.request(notebook.add_cell("print(6 * 7)"))
        q_ai = notebook.request(notebook.add_cell("summarise", cell_type="ai"))
        for q in (q_sql, q_code, q_ai):
            await notebook.done(q)
        assert notebook.completion(q_sql)["status"] == "success"
        assert sql.seen == ["SELECT 1"]
        assert notebook.completion(q_code)["status"] == "success"
        ai = notebook.completion(q_ai)
        assert ai["status"] == "error" and ai["error"] == "unsupported cell type ai"
    finally:
        await stop_agent(h)
    await asyncio.sleep(0)
    assert sql.closed
