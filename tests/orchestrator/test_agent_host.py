"""AgentHost adopts a prestarted engine and lets its exit overlap the caller's own cleanup."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from runt_action.agents.native import NativeEngine
from runt_action.orchestrator.agent_host import AgentHost, make_host_engine
from runt_action.timeouts import Timeouts

TIMEOUTS = Timeouts(cell=30, startup=30, connect=10, request=10, shutdown=10)


def test_make_host_engine_makes_without_starting() -> None:
    engine = make_host_engine("python", env={"A": "1"})
    assert isinstance(engine, NativeEngine) and engine.pid is None


async def test_a_prestarted_engine_is_adopted_and_reaped_after_stop(
    server: Any, make_cells: Any
) -> None:
    from runt_action.livestore.store import connect_store
    from runt_action.orchestrator.runner import Runner
    from runt_action.schema.state import NotebookMaterializer

    engine = NativeEngine(env={"RUNT_HOST_VAR": "adopted"})
    engine.prestart()
    pid = engine.pid
    assert pid is not None
    notebook_id = f"test_{secrets.token_hex(5)}"
    host = AgentHost(
        runtime="python",
        sync_url=server.url,
        notebook_id=notebook_id,
        timeouts=TIMEOUTS,
        engine=engine,
    )
    host.start()
    store = await connect_store(
        server.url,
        notebook_id,
        None,
        NotebookMaterializer(),
        client_id="test-host",
        session_id=secrets.token_hex(6),
        timeouts=TIMEOUTS,
    )
    try:
        planned = make_cells({"id": "c", "source": "import os; print(os.getpid())"})
        runner = Runner(store=store, cells=planned, title="t", cell_timeout=30, startup_timeout=30)
        await runner.prefill()
        await runner.wait_for_runtime()
        await runner.execute()
        [cell] = runner.results
        assert cell.status.value == "success"
        assert "".join(o.text or "" for o in cell.outputs) == f"{pid}\n"  # the same process
        await host.stop(10, wait_engine=False)
        assert host.task is not None and host.task.done() and host.died() is None
        await host.engine_closed()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        await host.stop(10)
        await store.close()
        engine.kill()
