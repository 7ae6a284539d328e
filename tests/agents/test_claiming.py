"""Claiming without a sync server: a store that holds commits until the test confirms them.

The hold is the fault injected: it lets each test decide what the server's order is and when
the agent sees it, so "starts before its claim is confirmed" is checked deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pytest

from runt_action.agents.core import RuntimeAgent
from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink
from runt_action.livestore.events import Event
from runt_action.livestore.store import Store
from runt_action.schema.state import NotebookMaterializer, NotebookState

Callback = Callable[[NotebookState, Sequence[Event]], None]


class HeldStore:
    """What RuntimeAgent uses of a Store; commits wait in ``held`` until :meth:`confirm`."""

    def __init__(self) -> None:
        self.materializer = NotebookMaterializer()
        self.state = self.materializer.initial()
        self.events: list[Event] = []
        self.held: list[tuple[str, Any, asyncio.Future[Event]]] = []
        self._subscribers: list[Callback] = []
        self._listeners: list[Callable[[str, Any], None]] = []
        self._seq = itertools.count(1)

    def commit(self, name: str, args: Any = None) -> asyncio.Future[Event]:
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.held.append((name, args, fut))
        for listener in list(self._listeners):
            listener(name, args)
        return fut

    def pending(self) -> list[tuple[str, Any]]:
        return [(name, args) for name, args, _ in self.held]

    @contextlib.contextmanager
    def on_commit(self, callback: Callable[[str, Any], None]) -> Iterator[None]:
        self._listeners.append(callback)
        try:
            yield
        finally:
            self._listeners.remove(callback)

    def push_now(self) -> None:
        """Commits are held until :meth:`confirm` either way."""

    def held_names(self) -> list[str]:
        return [name for name, _, _ in self.held]

    def confirm(self, count: int | None = None) -> None:
        """The server accepts the first ``count`` held commits (all by default), in order."""
        take = self.held[: len(self.held) if count is None else count]
        del self.held[: len(take)]
        for name, args, fut in take:
            fut.set_result(self.remote(name, args))

    def remote(self, name: str, args: Any = None) -> Event:
        """An event from another client arrives (or one of ours is confirmed)."""
        seq = next(self._seq)
        event = Event(name, args, seq, seq - 1, "c", "s")
        self.materializer.apply(self.state, event)
        self.events.append(event)
        for callback in list(self._subscribers):
            callback(self.state, [event])
        return event

    @contextlib.contextmanager
    def subscribe(self, callback: Callback) -> Iterator[None]:
        self._subscribers.append(callback)
        try:
            yield
        finally:
            self._subscribers.remove(callback)

    async def wait_for(self, predicate: Callable[[NotebookState], Any], timeout: Any = None) -> Any:  # noqa: ASYNC109
        await asyncio.Event().wait()  # the agent's only waiter never matches

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.confirm()


class RecordingEngine:
    """Runs nothing; remembers which code it was asked to run."""

    runtime_type = "python3"

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def start(self) -> None:
        return None

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        self.ran.append(code)
        return ExecOutcome(ExecStatus.OK)

    async def interrupt(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def setup() -> Any:
    store, engine = HeldStore(), RecordingEngine()
    agent = RuntimeAgent(cast(Store[NotebookState], store), engine, runtime_id="rt")
    task = asyncio.create_task(agent.run())
    while not agent.ready.is_set():
        assert not task.done(), task  # an agent that died would never become ready
        await _settle()
        store.confirm()
    store.confirm()
    store.remote(
        "v2.CellCreated",
        {"id": "c1", "fractionalIndex": "a0", "cellType": "code", "createdBy": "t"},
    )
    store.remote("v1.CellSourceChanged", {"id": "c1", "source": "1 + 1", "modifiedBy": "t"})
    try:
        yield store, engine
    finally:
        agent.stop()
        await asyncio.wait_for(task, 5)


def _request(store: HeldStore, qid: str = "q1") -> None:
    store.remote(
        "v1.ExecutionRequested",
        {"queueId": qid, "cellId": "c1", "executionCount": 1, "requestedBy": "t"},
    )


def _other_session(store: HeldStore) -> None:
    store.remote(
        "v1.RuntimeSessionStarted",
        {
            "sessionId": "other",
            "runtimeId": "other",
            "runtimeType": "python3",
            "capabilities": {"canExecuteCode": True, "canExecuteSql": False, "canExecuteAi": False},
        },
    )


async def test_alone_it_executes_before_its_claim_is_confirmed(setup: Any) -> None:
    store, engine = setup
    _request(store)
    await _settle()
    assert engine.ran == ["1 + 1"]
    # Nothing confirmed yet; the chain is still in the canonical order.
    assert store.held_names() == [
        "v1.ExecutionAssigned",
        "v1.ExecutionStarted",
        "v1.CellOutputsCleared",
        "v1.ExecutionCompleted",
    ]
    store.confirm()
    await _settle()
    assert engine.ran == ["1 + 1"]  # the confirmation does not start it twice
    assert store.state.queue["q1"].status == "completed"


async def test_with_another_runtime_it_waits_for_its_claim(setup: Any) -> None:
    store, engine = setup
    _other_session(store)
    _request(store)
    await _settle()
    assert engine.ran == []
    assert store.held_names() == ["v1.ExecutionAssigned"]
    store.confirm()
    await _settle()
    assert engine.ran == ["1 + 1"]


async def test_a_claim_that_lands_last_wins(setup: Any) -> None:
    store, engine = setup
    _other_session(store)
    _request(store)
    await _settle()
    store.remote("v1.ExecutionAssigned", {"queueId": "q1", "runtimeSessionId": "other"})
    await _settle()
    assert engine.ran == []  # ours is still on its way and will overwrite theirs
    store.confirm()
    await _settle()
    assert engine.ran == ["1 + 1"]


async def test_a_row_cancelled_before_our_claim_lands_never_starts(setup: Any) -> None:
    store, engine = setup
    _other_session(store)
    _request(store)
    await _settle()
    store.remote(
        "v1.ExecutionCancelled",
        {"queueId": "q1", "cellId": "c1", "cancelledBy": "t", "reason": "stop"},
    )
    store.confirm()
    await _settle()
    assert engine.ran == []


async def test_rows_run_in_request_order(setup: Any) -> None:
    store, engine = setup
    store.remote(
        "v2.CellCreated",
        {"id": "c2", "fractionalIndex": "a1", "cellType": "code", "createdBy": "t"},
    )
    store.remote("v1.CellSourceChanged", {"id": "c2", "source": "2", "modifiedBy": "t"})
    _request(store, "q1")
    store.remote(
        "v1.ExecutionRequested",
        {"queueId": "q2", "cellId": "c2", "executionCount": 2, "requestedBy": "t"},
    )
    for _ in range(5):
        await _settle()
        store.confirm()
    assert engine.ran == ["1 + 1", "2"]
    assert [e.args["queueId"] for e in store.events if e.name == "v1.ExecutionStarted"] == [
        "q1",
        "q2",
    ]


class EagerEngine(RecordingEngine):
    """Reports output in its very first step, before it ever yields to the loop."""

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        sink.result({"text/plain": "2"})
        return await super().execute(code, sink)


async def test_outputs_follow_started_and_clear_in_the_log() -> None:
    store, engine = HeldStore(), EagerEngine()
    agent = RuntimeAgent(cast(Store[NotebookState], store), engine, runtime_id="rt")
    task = asyncio.create_task(agent.run())
    try:
        while not agent.ready.is_set():
            await _settle()
            store.confirm()
        store.confirm()
        store.remote(
            "v2.CellCreated",
            {"id": "c1", "fractionalIndex": "a0", "cellType": "code", "createdBy": "t"},
        )
        store.remote("v1.CellSourceChanged", {"id": "c1", "source": "1 + 1", "modifiedBy": "t"})
        _request(store)
        await _settle()
        assert store.held_names() == [
            "v1.ExecutionAssigned",
            "v1.ExecutionStarted",
            "v1.CellOutputsCleared",
            "v1.MultimediaResultOutputAdded",
            "v1.ExecutionCompleted",
        ]
        store.confirm()
        [out] = store.state.cell_outputs("c1")
        assert out.output_type == "multimedia_result"
    finally:
        agent.stop()
        await asyncio.wait_for(task, 5)


async def test_rows_requested_before_the_agent_started_are_run() -> None:
    store, engine = HeldStore(), RecordingEngine()
    store.remote(
        "v2.CellCreated",
        {"id": "c1", "fractionalIndex": "a0", "cellType": "code", "createdBy": "t"},
    )
    store.remote("v1.CellSourceChanged", {"id": "c1", "source": "early", "modifiedBy": "t"})
    _request(store)
    agent = RuntimeAgent(cast(Store[NotebookState], store), engine, runtime_id="rt")
    task = asyncio.create_task(agent.run())
    try:
        for _ in range(10):
            await _settle()
            store.confirm()
        assert engine.ran == ["early"]
        assert store.state.queue["q1"].status == "completed"
    finally:
        agent.stop()
        await asyncio.wait_for(task, 5)
