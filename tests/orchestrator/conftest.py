from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "faults"))

from proxy import FaultProxy  # tests/faults/proxy.py

from runt_action.notebook.conditions import compile_condition
from runt_action.orchestrator.agent_host import AgentHost, prestart_engine
from runt_action.orchestrator.plan import EngineSpec
from runt_action.orchestrator.runner import ACTOR, PlannedCell, Runner
from runt_action.results import CellOutput, CellResult
from runt_action.schema import events as ev
from runt_action.schema.fractional import key_between
from runt_action.timeouts import Timeouts

TIMEOUTS = Timeouts(cell=30, startup=30, connect=10, request=10, shutdown=10)


def cells(*specs: dict[str, Any]) -> list[PlannedCell]:
    """PlannedCells from short dicts: {"id", "source", "type", "if", "timeout", ...}."""
    out: list[PlannedCell] = []
    for spec in specs:
        expr = spec.get("if")
        out.append(
            PlannedCell(
                id=spec["id"],
                cell_type=spec.get("type", "code"),
                source=spec.get("source", ""),
                timeout=spec.get("timeout"),
                retries=spec.get("retries", 0),
                allow_error=spec.get("allow_error", False),
                condition=compile_condition(expr, earlier_cells=[c.id for c in out])
                if expr
                else None,
            )
        )
    return out


@dataclass
class Recorder:
    """A LiveHooks that remembers the order of callbacks."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None:
        self.calls.append(("start", cell.id))

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        self.calls.append(("output", (cell_id, output)))

    def on_cell_end(self, cell: CellResult) -> None:
        self.calls.append(("end", cell.id))


@dataclass
class Harness:
    url: str
    notebook_id: str
    store: Any
    agent: AgentHost | None

    def runner(self, planned: list[PlannedCell], **kw: Any) -> Runner:
        kw.setdefault("cell_timeout", TIMEOUTS.cell)
        kw.setdefault("startup_timeout", TIMEOUTS.startup)
        kw.setdefault("backoff", lambda n: 0.05)
        return Runner(store=self.store, cells=planned, title="test", **kw)

    def event_names(self, cell_id: str) -> list[str]:
        out = []
        for event in self.store.events:
            args = event.args if isinstance(event.args, dict) else {}
            if args.get("cellId") == cell_id or args.get("id") == cell_id:
                out.append(event.name)
        return out


@pytest.fixture
def make_cells() -> Any:
    return cells


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def server() -> AsyncIterator[Any]:
    from runt_action.livestore.server import SyncServer

    srv = SyncServer(None)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _store(url: str, notebook_id: str) -> Any:
    from runt_action.livestore.store import connect_store
    from runt_action.schema.state import NotebookMaterializer

    return await connect_store(
        url,
        notebook_id,
        None,
        NotebookMaterializer(),
        client_id=f"test-{secrets.token_hex(3)}",
        session_id=secrets.token_hex(6),
        timeouts=TIMEOUTS,
        keep_events=True,  # event_names() reads the log
    )


def host_agent(store: Any, runtime: str = "python", **env: str) -> AgentHost:
    """The in-process agent on ``store``, as a run hosts it (one socket for both)."""
    from runt_action.schema.ids import new_session_id

    engine = prestart_engine(EngineSpec(runtime=runtime, environ=dict(os.environ), env=env))
    assert engine is not None
    runtime_id = f"test-runtime-{secrets.token_hex(3)}"
    host = AgentHost(
        store,
        engine,
        runtime_id=runtime_id,
        session_id=new_session_id(engine.runtime_type, runtime_id),
        display_name="test runtime",
        interrupt_grace=TIMEOUTS.interrupt,
    )
    host.start()
    return host


@pytest.fixture
async def harness(server: Any) -> AsyncIterator[Harness]:
    """A real embedded server, a real native agent, on the orchestrator's own Store."""
    notebook_id = f"test_{secrets.token_hex(5)}"
    store = await _store(server.url, notebook_id)
    agent = host_agent(store)
    try:
        yield Harness(server.url, notebook_id, store, agent)
    finally:
        await agent.stop(10)
        await agent.engine_closed()
        await store.close()


@pytest.fixture
async def bare(server: Any) -> AsyncIterator[Harness]:
    """No agent at all (startup timeout, capability checks)."""
    notebook_id = f"test_{secrets.token_hex(5)}"
    store = await _store(server.url, notebook_id)
    try:
        yield Harness(server.url, notebook_id, store, None)
    finally:
        await store.close()


# -- one Store shared by a runner and the in-process agent, behind a gate -----------------

GATED_WAIT_S = 30.0


@dataclass
class Gated(Harness):
    """A Harness whose Store reaches the server through a gate (``gate.hold()``)."""

    gate: FaultProxy
    key: str | None = None

    def add_cell(self, cell_id: str, source: str) -> None:
        self.key = key_between(self.key, None)
        self.store.commit(
            *ev.CellCreated2(
                id=cell_id, fractionalIndex=self.key, cellType="code", createdBy=ACTOR
            ).wire()
        )
        self.store.commit(*ev.CellSourceChanged(id=cell_id, source=source, modifiedBy=ACTOR).wire())

    def request(self, cell_id: str) -> str:
        queue_id = f"{cell_id}-{secrets.token_hex(3)}"
        self.store.commit(
            *ev.ExecutionRequested(
                queueId=queue_id, cellId=cell_id, executionCount=1, requestedBy=ACTOR
            ).wire()
        )
        return queue_id

    async def committed(self, name: str, value: str, key: str = "queueId") -> dict[str, Any]:
        """The args of ``name`` with ``args[key] == value``, as soon as it is committed on
        our Store (confirmed or not)."""
        args: dict[str, Any] = await self.store.wait_for(
            lambda s: None,
            timeout=GATED_WAIT_S,
            committed=lambda n, a: a if n == name and a.get(key) == value else None,
        )
        return args

    async def ready(self) -> None:
        await self.store.wait_for(
            lambda s: any(x.status == "ready" and x.is_active for x in s.sessions.values()),
            timeout=GATED_WAIT_S,
        )


@pytest.fixture
async def gated(server: Any) -> AsyncIterator[Gated]:
    async with FaultProxy.gate(server.port) as gate:
        url, notebook_id = gate.url(server.url), f"test_{secrets.token_hex(5)}"
        store = await _store(url, notebook_id)
        agent = host_agent(store)
        g = Gated(url, notebook_id, store, agent, gate)
        try:
            await g.ready()
            yield g
        finally:
            gate.release()
            await agent.stop(10)
            await agent.engine_closed()
            await store.close()
