"""Our Store (runt_action.livestore) against the real sync-cf backend and the real JS client.

Every scenario runs twice: against ``wrangler`` (the real @livestore/sync-cf 0.3.1 Durable
Object under workerd) and against ``embedded`` (our SyncServer). The JS client is the referee:
whatever it does against the real backend it must also do against ours.
"""

from __future__ import annotations

from typing import Any

import pytest

from runt_action.errors import SyncAuthError
from runt_action.livestore.events import Event
from runt_action.livestore.store import Store, connect_store
from runt_action.timeouts import Timeouts

pytestmark = pytest.mark.interop

TOKEN = "test-token"
TIMEOUTS = Timeouts(connect=10, request=10)
WAIT = 30.0


class EventLog:
    """A materializer that keeps the confirmed log, so tests compare what was synced."""

    def initial(self) -> list[Event]:
        return []

    def apply(self, state: list[Event], event: Event) -> None:
        state.append(event)


async def open_store(
    url: str, store_id: str, *, client_id: str = "py-client", token: str = TOKEN
) -> Store[list[Event]]:
    return await connect_store(
        url,
        store_id,
        {"authToken": token},
        EventLog(),
        client_id=client_id,
        session_id=f"{client_id}-session",
        timeouts=TIMEOUTS,
        keep_events=True,
    )


def names_and_args(events: Any) -> list[tuple[str, Any]]:
    return [(e.name, e.args) if isinstance(e, Event) else (e["name"], e["args"]) for e in events]


async def wait_len(store: Store[list[Event]], n: int) -> list[Event]:
    result: list[Event] = await store.wait_for(
        lambda log: list(log) if len(log) >= n else None, WAIT
    )
    return result


async def test_python_push_then_fresh_python_pull(
    sync_url: str, store_id: str, cell_events: Any
) -> None:
    events = cell_events(3, actor="py", tag="py")
    async with await open_store(sync_url, store_id) as writer:
        futures = [writer.commit(e["name"], e["args"]) for e in events]
        await writer.flush(WAIT)
        confirmed = [f.result() for f in futures]
        assert [e.seq_num for e in confirmed] == list(range(1, len(events) + 1))
        assert [e.parent_seq_num for e in confirmed] == list(range(len(events)))
        assert names_and_args(writer.events) == names_and_args(events)

    async with await open_store(sync_url, store_id, client_id="py-reader") as reader:
        # connect_store returns after the initial pull: the log is already complete.
        assert names_and_args(reader.events) == names_and_args(events)
        assert {(e.client_id, e.session_id) for e in reader.events} == {
            ("py-client", "py-client-session")
        }
        assert all(e.created_at for e in reader.events)


async def test_python_pulls_what_js_pushed(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    events = cell_events(2, actor="js", tag="js")
    client = await js_client(sync_url, store_id, commit=events, wait_cells=2)
    assert (await client.next_message("committed"))["upstreamHead"] == len(events)
    assert await client.finish() == 0

    async with await open_store(sync_url, store_id) as store:
        assert names_and_args(store.events) == names_and_args(events)
        assert {(e.client_id, e.session_id) for e in store.events} == {("js-client", "js-session")}


async def test_python_sees_js_pushes_live(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    events = cell_events(2, actor="js", tag="js")
    async with await open_store(sync_url, store_id) as store:
        assert list(store.events) == []
        client = await js_client(sync_url, store_id, commit=events, wait_cells=2)
        log = await wait_len(store, len(events))
        assert names_and_args(log) == names_and_args(events)
        assert [e.seq_num for e in log] == list(range(1, len(events) + 1))
        assert await client.finish() == 0


async def test_js_materializes_python_commits_live(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    client = await js_client(sync_url, store_id, wait_cells=2, wait_outputs=2)
    await client.next_message("ready")
    async with await open_store(sync_url, store_id) as store:
        for e in cell_events(2, actor="automation-client", tag="py"):
            store.commit(e["name"], e["args"])
        await store.flush(WAIT)
        tables = await client.next_message("tables")
    assert_materialized(tables, tag="py", n=2, actor="automation-client")
    assert await client.finish() == 0


async def test_js_materializes_python_commits_via_pull(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    async with await open_store(sync_url, store_id) as store:
        for e in cell_events(3, actor="automation-client", tag="py"):
            store.commit(e["name"], e["args"])
        await store.flush(WAIT)
    client = await js_client(sync_url, store_id, wait_cells=3, wait_outputs=3)
    tables = await client.next_message("tables")
    assert_materialized(tables, tag="py", n=3, actor="automation-client")
    assert await client.finish() == 0


async def test_concurrent_writers_converge(
    sync_url: str, store_id: str, js_client: Any, cell_events: Any
) -> None:
    """Python and JS push at once: someone's push is rejected and rebased; all converge."""
    py_events = cell_events(3, actor="py", tag="py")
    js_events = cell_events(3, actor="js", tag="js")
    total = len(py_events) + len(js_events)
    async with await open_store(sync_url, store_id) as store:
        client = await js_client(sync_url, store_id, commit=js_events, wait_cells=6)
        await client.next_message("ready")
        for e in py_events:
            store.commit(e["name"], e["args"])
        await store.flush(WAIT)
        log = await wait_len(store, total)
        tables = await client.next_message("tables")
        assert await client.finish() == 0

    assert [e.seq_num for e in log] == list(range(1, total + 1))
    py_part = [e for e in log if e.client_id == "py-client"]
    js_part = [e for e in log if e.client_id == "js-client"]
    assert names_and_args(py_part) == names_and_args(py_events)  # each side's order kept
    assert names_and_args(js_part) == names_and_args(js_events)
    assert {c["id"] for c in tables["cells"]} == {
        f"{t}-cell-{i}" for t in ("py", "js") for i in range(3)
    }

    async with await open_store(sync_url, store_id, client_id="py-reader") as reader:
        assert [(e.seq_num, e.name, e.args) for e in reader.events] == [
            (e.seq_num, e.name, e.args) for e in log
        ]


async def test_wrong_token_raises_sync_auth_error(sync_url: str, store_id: str) -> None:
    with pytest.raises(SyncAuthError) as excinfo:
        await open_store(sync_url, store_id, token="wrong-token")
    message = str(excinfo.value)
    assert "Invalid auth token" in message  # the server's own reason reaches the user
    assert "400" in message
    assert "wrong-token" not in message  # the secret is not echoed into CI logs


def assert_materialized(tables: dict[str, Any], *, tag: str, n: int, actor: str) -> None:
    """What anode's materializers derive from the events of ``cell_events(n)``."""
    cells = tables["cells"]
    assert [c["id"] for c in cells] == [f"{tag}-cell-{i}" for i in range(n)]
    assert [c["source"] for c in cells] == [f"print({i})" for i in range(n)]
    assert [c["fractionalIndex"] for c in cells] == [f"a{i}" for i in range(n)]
    assert {
        (c["cellType"], c["executionState"], c["executionCount"], c["createdBy"]) for c in cells
    } == {("code", "queued", 1, actor)}
    queue = sorted(tables["executionQueue"], key=lambda q: q["id"])
    assert [(q["id"], q["cellId"], q["status"]) for q in queue] == [
        (f"{tag}-cell-{i}-q", f"{tag}-cell-{i}", "pending") for i in range(n)
    ]
    outputs = sorted(tables["outputs"], key=lambda o: o["id"])
    assert [(o["cellId"], o["outputType"], o["streamName"], o["data"]) for o in outputs] == [
        (f"{tag}-cell-{i}", "terminal", "stdout", f"{i}\n") for i in range(n)
    ]
    assert tables["presence"] == [{"userId": actor, "cellId": f"{tag}-cell-{n - 1}"}]
