from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from livestore_helpers import FAST, ListMaterializer, Log, ws_url

from runt_action.errors import SyncAuthError, SyncConnectError, SyncProtocolError, SyncTimeout
from runt_action.livestore import (
    Event,
    Store,
    SyncClient,
    SyncServer,
    connect_store,
    token_validator,
)
from runt_action.livestore.protocol import PullReq, encode
from runt_action.timeouts import Timeouts


async def store(
    server_url: str,
    client: str,
    store_id: str = "s1",
    payload: Any = None,
    timeouts: Timeouts = FAST,
) -> Store[Log]:
    return await connect_store(
        server_url,
        store_id,
        payload,
        ListMaterializer(),
        client_id=client,
        session_id=f"{client}-session",
        timeouts=timeouts,
        keep_events=True,
    )


async def server_log(server: SyncServer, store_id: str = "s1") -> list[Event]:
    """The server's own view, pulled over a raw socket."""
    events: list[Event] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(server, store_id), max_msg_size=0) as ws,
    ):
        await ws.send_str(encode(PullReq("check")))
        while True:
            frame = json.loads((await ws.receive(timeout=5)).data)
            events += [Event.from_wire(i["eventEncoded"]) for i in frame["batch"]]
            if frame["remaining"] == 0:
                return events


def key(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    return [
        (e.seq_num, e.parent_seq_num, e.name, json.dumps(e.args), e.client_id, e.session_id)
        for e in events
    ]


def assert_contiguous(events: Sequence[Event]) -> None:
    assert [e.seq_num for e in events] == list(range(1, len(events) + 1))
    assert all(e.parent_seq_num == e.seq_num - 1 for e in events)


# --- basics -----------------------------------------------------------------------------


async def test_push_pull_and_live_broadcast(server: SyncServer) -> None:
    async with await store(server.url, "A") as a:
        first = await a.commit("v1.Note", {"text": "one"})
        assert (first.seq_num, first.parent_seq_num, first.client_id) == (1, 0, "A")
        assert first.created_at is not None
        assert a.events == [first] and a.state.events == [first]
        async with await store(server.url, "B") as b:
            assert key(b.events) == key([first])  # initial pull reached the head
            waiting = asyncio.create_task(
                b.wait_for(
                    lambda s: next((e for e in s.events if e.args == {"text": "two"}), None),
                    timeout=5,
                )
            )
            second = await a.commit("v1.Note", {"text": "two"})
            got = await waiting
            assert got == second
    assert key(await server_log(server)) == key([first, second])


async def test_wait_for_wakes_on_the_exact_state_change(server: SyncServer) -> None:
    async with await store(server.url, "A") as a, await store(server.url, "B") as b:
        seen: list[int] = []

        def exactly_thirty(state: Log) -> int | None:
            seen.append(len(state.events))
            return len(state.events) if len(state.events) == 30 else None

        waiting = asyncio.create_task(b.wait_for(exactly_thirty, timeout=10))
        await asyncio.sleep(0)
        futures = [a.commit("v1.N", {"i": i}) for i in range(100)]
        await asyncio.gather(*futures)
        # Batches of 1, 50, 49 arrive; the predicate still saw the 30th event.
        assert await waiting == 30
        assert seen == list(range(0, 31))  # checked now, then once per event; no polling


async def test_wait_for_times_out_with_the_builtin_timeout_error(server: SyncServer) -> None:
    async with await store(server.url, "A") as a:
        with pytest.raises(TimeoutError):
            await a.wait_for(lambda s: False, timeout=0.05)
        assert a._waiters == []


async def test_wait_for_returns_at_once_when_already_true(server: SyncServer) -> None:
    async with await store(server.url, "A") as a:
        assert await a.wait_for(lambda s: "yes") == "yes"


async def test_subscribe_is_scoped_and_flush_waits_for_confirmation(server: SyncServer) -> None:
    async with await store(server.url, "A") as a:
        batches: list[list[int]] = []
        with a.subscribe(lambda s, new: batches.append([e.seq_num for e in new])):
            for i in range(5):
                a.commit("v1.N", {"i": i})
            await a.flush(timeout=5)
            assert len(a.events) == 5
        a.commit("v1.N", {"i": 5})
        await a.flush(timeout=5)
        assert [n for b in batches for n in b] == [1, 2, 3, 4, 5]


async def test_commit_of_an_event_too_big_fails_its_future(server: SyncServer) -> None:
    async with await store(server.url, "A") as a:
        with pytest.raises(SyncProtocolError, match="more than a push frame"):
            await a.commit("v1.Big", {"x": "y" * 1_100_000})
        ok = await a.commit("v1.Small")
        assert ok.seq_num == 1 and ok.args is None


# --- faults -----------------------------------------------------------------------------


async def test_socket_dropped_mid_batch_loses_and_duplicates_nothing() -> None:
    pushes = 0
    server: SyncServer

    def fault(store_id: str, events: Sequence[Event]) -> None:
        nonlocal pushes
        pushes += 1
        if pushes in (3, 7):
            # Accepted and persisted, but the ack and the broadcast never leave.
            server.abort_connections()

    server = SyncServer(on_push=fault)
    await server.start()
    try:
        async with await store(server.url, "A") as a:
            futures = [a.commit("v1.N", {"i": i}) for i in range(500)]
            confirmed = await asyncio.wait_for(asyncio.gather(*futures), 30)
            assert a._client is not None and a._client.connections >= 3
            assert_contiguous(a.events)
            assert [e.args["i"] for e in a.events] == list(range(500))
            assert key(confirmed) == key(a.events)
            assert key(await server_log(server)) == key(a.events)
    finally:
        await server.stop()


async def test_two_clients_pushing_1000_each_converge() -> None:
    server = SyncServer()
    await server.start()
    try:
        async with await store(server.url, "A") as a, await store(server.url, "B") as b:
            fa = [a.commit("v1.N", {"from": "A", "i": i}) for i in range(1000)]
            fb = [b.commit("v1.N", {"from": "B", "i": i}) for i in range(1000)]
            await asyncio.wait_for(asyncio.gather(*fa, *fb), 60)
            await a.wait_for(lambda s: len(s.events) == 2000, timeout=10)
            await b.wait_for(lambda s: len(s.events) == 2000, timeout=10)
            assert key(a.events) == key(b.events) == key(await server_log(server))
            assert_contiguous(a.events)
            for who in ("A", "B"):
                mine = [e.args["i"] for e in a.events if e.args["from"] == who]
                assert mine == list(range(1000))  # each client's order kept, no duplicates
    finally:
        await server.stop()


async def test_events_pushed_while_offline_are_not_lost(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    server = SyncServer(db)
    await server.start()
    port = server.port
    a = await store(server.url, "A", timeouts=Timeouts(connect=1.0, request=2.0))
    try:
        await a.commit("v1.N", {"i": "before"})
        await server.stop()
        offline = [a.commit("v1.N", {"i": f"offline-{i}"}) for i in range(3)]
        server = SyncServer(db, port=port)
        await server.start()
        async with await store(server.url, "B") as b:
            for i in range(3):
                await b.commit("v1.N", {"i": f"B-{i}"})
        await asyncio.wait_for(asyncio.gather(*offline), 20)
        await a.wait_for(lambda s: len(s.events) == 7, timeout=10)
        assert_contiguous(a.events)
        assert key(a.events) == key(await server_log(server))
        assert sorted(e.args["i"] for e in a.events) == sorted(
            ["before", "offline-0", "offline-1", "offline-2", "B-0", "B-1", "B-2"]
        )
    finally:
        await a.close()
        await server.stop()


# --- handshake and liveness failures ----------------------------------------------------


async def test_wrong_token_is_a_clear_sync_auth_error() -> None:
    server = SyncServer(validate_payload=token_validator("s3cret-token"))
    await server.start()
    try:
        with pytest.raises(SyncAuthError) as exc:
            await store(server.url, "A", payload={"authToken": "wrong-token-value"})
        message = str(exc.value)
        assert "Invalid auth token" in message and "HTTP 400" in message
        assert server.url in message
        assert "wrong-token-value" not in message and "s3cret-token" not in message
        async with await store(server.url, "A", payload={"authToken": "s3cret-token"}) as ok:
            assert ok.events == []
    finally:
        await server.stop()


async def test_unreachable_server_is_a_sync_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SyncConnectError, match="cannot reach"):
        await store(f"ws://127.0.0.1:{port}/livestore", "A")


class FakeServer:
    """Fault injection: a websocket peer that answers pulls but maybe not pings."""

    def __init__(self, *, answer_pulls: bool, answer_pings: bool) -> None:
        self.answer_pulls = answer_pulls
        self.answer_pings = answer_pings
        self.connections = 0
        self.second_connection = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeServer:
        app = web.Application()
        app.router.add_get("/livestore/websocket", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/livestore"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        if self.connections >= 2:
            self.second_connection.set()
        async for msg in ws:
            data = json.loads(msg.data)
            if data["_tag"] == "WSMessage.PullReq" and self.answer_pulls:
                await ws.send_str(
                    json.dumps(
                        {
                            "_tag": "WSMessage.PullRes",
                            "batch": [],
                            "requestId": {"context": "pull", "requestId": data["requestId"]},
                            "remaining": 0,
                        },
                        separators=(",", ":"),
                    )
                )
            if data["_tag"] == "WSMessage.Ping" and self.answer_pings:
                await ws.send_str('{"_tag":"WSMessage.Pong","requestId":"ping"}')
        return ws


async def test_a_server_that_never_answers_is_a_sync_protocol_error() -> None:
    async with FakeServer(answer_pulls=False, answer_pings=True) as fake:
        with pytest.raises(SyncProtocolError, match="did not answer the initial pull within"):
            await store(fake.url, "A", timeouts=Timeouts(connect=2.0, request=0.3))


async def test_missing_pong_marks_the_socket_dead_and_reconnects() -> None:
    async with FakeServer(answer_pulls=True, answer_pings=False) as fake:
        client = SyncClient(
            fake.url,
            "s1",
            None,
            client_id="A",
            session_id="a",
            timeouts=FAST,
            on_confirmed=lambda events: None,
            ping_interval=30.0,
            pong_timeout=0.2,
            backoff_initial=0.01,
        )
        await client.start()
        try:
            await asyncio.wait_for(fake.second_connection.wait(), 10)
            assert client.failure is None
        finally:
            await client.close()


class Exploding(ListMaterializer):
    def apply(self, state: Log, event: Event) -> None:
        if event.name == "v1.Boom":
            raise RuntimeError("materializer bug")
        super().apply(state, event)


async def test_a_materializer_error_skips_that_event_only(
    server: SyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with await connect_store(
        server.url, "s1", None, Exploding(), client_id="A", session_id="a", timeouts=FAST
    ) as a:
        waiting = asyncio.create_task(a.wait_for(lambda s: len(s.events) == 2, timeout=5))
        await asyncio.sleep(0)
        futures = [a.commit("v1.Fine", {"i": 1}), a.commit("v1.Boom"), a.commit("v1.Fine")]
        confirmed = await asyncio.wait_for(asyncio.gather(*futures), 5)  # all resolve
        assert [e.seq_num for e in confirmed] == [1, 2, 3]
        assert await waiting
        assert [e.name for e in a.state.events] == ["v1.Fine", "v1.Fine"]
        assert a.failure is None
        later = await asyncio.wait_for(a.commit("v1.Fine", {"i": 4}), 5)  # the socket lives
        assert later.seq_num == 4 and a._client is not None and a._client.connections == 1
    [record] = [r for r in caplog.records if "materializer" in r.getMessage()]
    assert record.levelname == "WARNING" and "e2 v1.Boom" in record.getMessage()


async def test_a_subscriber_error_skips_that_event_for_that_subscriber_only(
    server: SyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    picky: list[str] = []
    calm: list[str] = []
    trailing_calls = 0

    def raises_on_bad(state: Log, events: Sequence[Event]) -> None:
        for e in events:
            if e.name == "v1.Bad":
                raise ValueError("cannot handle this event")
            picky.append(e.name)

    def raises_after_its_loop(state: Log, events: Sequence[Event]) -> None:
        nonlocal trailing_calls
        trailing_calls += 1
        for _ in events:
            pass
        raise KeyError("after the loop")

    def records(state: Log, events: Sequence[Event]) -> None:
        calm.extend(e.name for e in events)

    async with await store(server.url, "A") as a:
        with a.subscribe(raises_on_bad), a.subscribe(raises_after_its_loop), a.subscribe(records):
            # One loop step: one push, so the three arrive as one batch.
            futures = [a.commit("v1.A"), a.commit("v1.Bad"), a.commit("v1.C")]
            await asyncio.wait_for(asyncio.gather(*futures), 5)
            assert picky == ["v1.A", "v1.C"]  # Bad skipped, the rest of the batch delivered
            assert calm == ["v1.A", "v1.Bad", "v1.C"]  # other subscribers get the batch
            assert trailing_calls == 1  # blamed on the batch, not re-delivered
            await asyncio.wait_for(a.commit("v1.D"), 5)
            assert picky[-1] == calm[-1] == "v1.D"
        assert a.failure is None
    messages = [r.getMessage() for r in caplog.records if "subscriber" in r.getMessage()]
    assert any("raises_on_bad" in m and "e2 v1.Bad" in m for m in messages)
    assert any("raises_after_its_loop" in m and "e1..e3" in m for m in messages)


async def test_a_failing_on_confirmed_never_leaves_commits_unresolved(
    server: SyncServer,
) -> None:
    def on_confirmed(events: list[Event]) -> None:
        raise RuntimeError("bug in the consumer")

    client = SyncClient(
        server.url,
        "s1",
        None,
        client_id="A",
        session_id="a",
        timeouts=FAST,
        on_confirmed=on_confirmed,
    )
    await client.start()
    try:
        first = await asyncio.wait_for(client.commit("v1.N"), 5)
        second = await asyncio.wait_for(client.commit("v1.N"), 5)
        assert (first.seq_num, second.seq_num) == (1, 2)
        assert client.failure is None and client.connections == 1
    finally:
        await client.close()


async def test_flush_times_out_with_a_sync_timeout_and_leaves_commits_pending() -> None:
    async with (
        FakeServer(answer_pulls=True, answer_pings=True) as fake,  # ignores pushes
        await store(fake.url, "A") as a,
    ):
        futures = [a.commit("v1.N", {"i": i}) for i in range(2)]
        with pytest.raises(SyncTimeout) as exc:
            await a.flush(timeout=0.2)
        assert str(exc.value) == (
            f"2 events were not confirmed by the sync server at {fake.url} within 0.2 s"
        )
        assert not isinstance(exc.value, TimeoutError)
        assert not any(f.done() for f in futures)  # not cancelled by the timeout
        with pytest.raises(TimeoutError):  # wait_for keeps the builtin
            await a.wait_for(lambda s: False, timeout=0.05)


async def test_the_event_log_is_kept_only_when_asked_for(server: SyncServer) -> None:
    async with await connect_store(
        server.url, "s1", None, ListMaterializer(), client_id="A", session_id="a", timeouts=FAST
    ) as lean:
        await lean.commit("v1.N")
        with pytest.raises(RuntimeError, match="keep_events=True"):
            lean.events  # noqa: B018
        assert len(lean.state.events) == 1
    async with await store(server.url, "B") as kept:  # keep_events=True
        assert [e.name for e in kept.events] == ["v1.N"]


async def test_a_fresh_writer_serves_each_socket_and_none_outlives_the_store(
    server: SyncServer,
) -> None:
    async with await store(server.url, "A") as a:
        client = a._client
        assert client is not None and client._outbox is not None
        first = client._outbox
        await a.commit("v1.N", {"i": 0})
        server.abort_connections()
        await asyncio.wait_for(first.wait_closed(), 5)  # the old writer ended
        await asyncio.wait_for(a.commit("v1.N", {"i": 1}), 10)  # through a new socket
        assert client.connections == 2 and client._outbox is not first
    writers = [t for t in asyncio.all_tasks() if t.get_name().startswith("livestore-writer")]
    assert writers == []


async def test_a_server_that_lost_its_log_is_a_fatal_protocol_error(
    http: aiohttp.ClientSession,
) -> None:
    server = SyncServer(admin_secret="adm")
    await server.start()
    try:
        async with await store(server.url, "A") as a:
            await a.commit("v1.N", {"i": 1})
            async with http.ws_connect(ws_url(server)) as ws:
                await ws.send_str(
                    '{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r","adminSecret":"adm"}'
                )
                await ws.receive(timeout=5)
            waiting = asyncio.create_task(a.wait_for(lambda s: len(s.events) > 1, timeout=5))
            with pytest.raises(SyncProtocolError, match="went back from e1 to e0"):
                await a.commit("v1.N", {"i": 2})
            with pytest.raises(SyncProtocolError):
                await waiting
    finally:
        await server.stop()


async def test_a_handshake_that_never_completes_is_a_connect_timeout() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accept the TCP connection, never answer the upgrade

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SyncConnectError, match=r"timed out after 0\.2s"):
            await store(
                f"ws://127.0.0.1:{port}/livestore", "A", timeouts=Timeouts(connect=0.2, request=1.0)
            )
    finally:
        for w in writers:
            w.close()
        tcp.close()
        await tcp.wait_closed()


def test_reconnect_backoff_is_exponential_jittered_and_capped() -> None:
    client = SyncClient(
        "ws://127.0.0.1:1/livestore",
        "s",
        None,
        client_id="A",
        session_id="a",
        timeouts=FAST,
        on_confirmed=lambda events: None,
        backoff_initial=0.1,
        backoff_max=2.0,
    )
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (30, 2.0)]:
        delays = [client._backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
