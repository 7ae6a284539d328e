"""Shared fixtures of the agent suite: a real SyncServer, a real orchestrator-side Store, and a
RuntimeAgent (with its own Store) for each engine kind.

The Pyodide engineer plugs their engine in through ``make_engine("pyodide")`` (registry.py);
``ENGINE_OPTS`` is the place for engine-specific constructor options.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.core import RuntimeAgent
from runt_action.agents.engine import Engine
from runt_action.agents.registry import make_engine
from runt_action.livestore.events import Event
from runt_action.livestore.server import SyncServer
from runt_action.livestore.store import Store, connect_store
from runt_action.schema import events as ev
from runt_action.schema.fractional import key_between
from runt_action.schema.state import NotebookMaterializer, NotebookState, Output, QueueEntry
from runt_action.timeouts import Timeouts

ENGINES = ["python", pytest.param("pyodide", marks=pytest.mark.pyodide)]
ENGINE_OPTS: dict[str, dict[str, Any]] = {"python": {}, "pyodide": {}}
TIMEOUTS = Timeouts(connect=10, request=10, startup=60)
WAIT_S = 30.0  # upper bound for anything the suite waits on; never reached when it passes
ORCH = "automation-client"

_ids = itertools.count(1)


@pytest.fixture
async def server() -> AsyncIterator[SyncServer]:
    srv = SyncServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
def store_id() -> str:
    return f"nbtest{next(_ids)}"


async def open_store(url: str, store_id: str, name: str) -> Store[NotebookState]:
    return await connect_store(
        url,
        store_id,
        {},
        NotebookMaterializer(),
        client_id=f"{name}-client",
        session_id=f"{name}-session",
        timeouts=TIMEOUTS,
        keep_events=True,  # Notebook.events() reads the log
    )


@dataclass
class Notebook:
    """The orchestrator side: writes cells and requests, waits reactively on the state."""

    store: Store[NotebookState]
    url: str  # the sync server's, for agents started in other processes
    _last_key: str | None = None
    _count: int = 0
    started: list[str] = field(default_factory=list)

    def add_cell(self, source: str, cell_id: str | None = None, cell_type: str = "code") -> str:
        cell_id = cell_id or f"cell{next(_ids)}"
        self._last_key = key_between(self._last_key, None)
        self.store.commit(
            *ev.CellCreated2.model_validate(
                {
                    "id": cell_id,
                    "fractionalIndex": self._last_key,
                    "cellType": cell_type,
                    "createdBy": ORCH,
                }
            ).wire()
        )
        self.store.commit(*ev.CellSourceChanged(id=cell_id, source=source, modifiedBy=ORCH).wire())
        return cell_id

    def request(self, cell_id: str) -> str:
        self._count += 1
        queue_id = f"{cell_id}q{next(_ids)}"
        self.store.commit(
            *ev.ExecutionRequested(
                queueId=queue_id, cellId=cell_id, executionCount=self._count, requestedBy=ORCH
            ).wire()
        )
        return queue_id

    def cancel(self, queue_id: str, cell_id: str, reason: str = "test") -> None:
        self.store.commit(
            *ev.ExecutionCancelled(
                queueId=queue_id, cellId=cell_id, cancelledBy=ORCH, reason=reason
            ).wire()
        )

    async def wait(self, predicate: Callable[[NotebookState], Any], limit: float = WAIT_S) -> Any:
        return await self.store.wait_for(predicate, timeout=limit)

    async def done(self, queue_id: str, limit: float = WAIT_S) -> QueueEntry:
        """The row once the runtime reported ExecutionCompleted for it."""

        def check(s: NotebookState) -> QueueEntry | None:
            row = s.queue.get(queue_id)
            return row if row is not None and row.completed_at is not None else None

        row: QueueEntry = await self.wait(check, limit)
        return row

    def completion(self, queue_id: str) -> dict[str, Any]:
        """The args of the ExecutionCompleted event (its status is not materialized)."""
        found = [
            e.args for e in self.events("v1.ExecutionCompleted") if e.args["queueId"] == queue_id
        ]
        assert len(found) == 1, found
        args: dict[str, Any] = found[0]
        return args

    def events(self, name: str) -> list[Event]:
        return [e for e in self.store.events if e.name == name]

    def outputs(self, cell_id: str) -> list[Output]:
        return self.store.state.cell_outputs(cell_id)

    def text(self, cell_id: str, stream: str = "stdout") -> str:
        return "".join(
            self.store.state.final_content(o)
            for o in self.outputs(cell_id)
            if o.output_type == "terminal" and o.stream_name == stream
        )

    async def run(self, source: str, limit: float = WAIT_S) -> tuple[str, str, dict[str, Any]]:
        """Create, request and wait for one cell: (cell_id, queue_id, completion args)."""
        cell_id = self.add_cell(source)
        queue_id = self.request(cell_id)
        await self.done(queue_id, limit)
        return cell_id, queue_id, self.completion(queue_id)


@pytest.fixture
async def notebook(server: SyncServer, store_id: str) -> AsyncIterator[Notebook]:
    store = await open_store(server.url, store_id, "orch")
    try:
        yield Notebook(store, server.url)
    finally:
        await store.close()


@pytest.fixture(params=ENGINES)
def engine_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def engine_factory(engine_kind: str, tmp_path: Path) -> Callable[[], Engine]:
    def make() -> Engine:
        return make_engine(engine_kind, cwd=tmp_path, **ENGINE_OPTS[engine_kind])

    return make


@dataclass
class AgentHarness:
    agent: RuntimeAgent
    task: asyncio.Task[None]
    store: Store[NotebookState]


async def start_agent(server: SyncServer, store_id: str, engine: Engine, **kw: Any) -> AgentHarness:
    store = await open_store(server.url, store_id, f"agent{next(_ids)}")
    agent = RuntimeAgent(store, engine, runtime_id=f"rt{next(_ids)}", renew_interval=0.5, **kw)
    task = asyncio.create_task(agent.run())
    ready = asyncio.create_task(agent.ready.wait())
    await asyncio.wait([ready, task], timeout=TIMEOUTS.startup, return_when="FIRST_COMPLETED")
    ready.cancel()
    if task.done():
        task.result()
    assert agent.ready.is_set(), "agent did not become ready"
    return AgentHarness(agent, task, store)


async def stop_agent(h: AgentHarness) -> None:
    """Stop and clean up whatever state the test left the agent in."""
    h.agent.stop()
    done, _ = await asyncio.wait([h.task], timeout=20)
    if not done:
        h.task.cancel()
    await asyncio.gather(h.task, return_exceptions=True)
    await h.agent.engine.shutdown()
    await h.store.close()


@pytest.fixture
async def spawn_agent(
    server: SyncServer, store_id: str, engine_factory: Callable[[], Engine]
) -> AsyncIterator[Callable[..., Any]]:
    """``await spawn_agent(**agent_kwargs)``: another agent on the same notebook, cleaned up."""
    started: list[AgentHarness] = []

    async def spawn(**kw: Any) -> AgentHarness:
        h = await start_agent(server, store_id, engine_factory(), **kw)
        started.append(h)
        return h

    try:
        yield spawn
    finally:
        for h in started:
            await stop_agent(h)


@pytest.fixture
async def runtime(
    server: SyncServer, store_id: str, notebook: Notebook, engine_factory: Callable[[], Engine]
) -> AsyncIterator[AgentHarness]:
    h = await start_agent(server, store_id, engine_factory())
    try:
        yield h
    finally:
        await stop_agent(h)
