"""AgentHost runs the agent on the orchestrator's own Store and adopts a prestarted engine."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from runt_action.agents.native import NativeEngine
from runt_action.orchestrator.agent_host import make_host_engine
from runt_action.orchestrator.plan import EngineSpec
from runt_action.timeouts import Timeouts

from .conftest import host_agent

TIMEOUTS = Timeouts(cell=30, startup=30, connect=10, request=10, shutdown=10)


def test_make_host_engine_makes_without_starting() -> None:
    engine = make_host_engine(EngineSpec(runtime="python", environ={}, env={"A": "1"}))
    assert isinstance(engine, NativeEngine) and engine.pid is None


async def test_one_socket_serves_the_runner_and_the_agent(server: Any, make_cells: Any) -> None:
    from runt_action.livestore.store import connect_store
    from runt_action.orchestrator.runner import Runner
    from runt_action.schema.state import NotebookMaterializer

    notebook_id = f"test_{secrets.token_hex(5)}"
    store = await connect_store(
        server.url,
        notebook_id,
        None,
        NotebookMaterializer(),
        client_id="test-host",
        session_id=secrets.token_hex(6),
        timeouts=TIMEOUTS,
    )
    host = host_agent(store, RUNT_HOST_VAR="adopted")
    engine: Any = host._hosted.engine
    pid = engine.pid
    assert pid is not None  # launched before the agent task even started
    try:
        planned = make_cells(
            {"id": "c", "source": "import os; print(os.getpid(), os.environ['RUNT_HOST_VAR'])"}
        )
        runner = Runner(store=store, cells=planned, title="t", cell_timeout=30, startup_timeout=30)
        await runner.prefill()
        await runner.wait_for_runtime()
        await runner.execute()
        [cell] = runner.results
        assert cell.status.value == "success"
        assert "".join(o.text or "" for o in cell.outputs) == f"{pid} adopted\n"
        assert len(server._peers) == 1  # the agent has no socket of its own
        await host.stop(10)
        assert host.task is not None and host.task.done() and host.died() is None
        await host.engine_closed()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        await host.stop(10)
        await store.close()
        engine.kill()
