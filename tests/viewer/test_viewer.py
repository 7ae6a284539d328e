"""The live viewer over HTTP and its websocket: lists, pages, live fragments, the token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from viewer_helpers import FAST, Connect, cell_events, commit_all, run_events

from runt_action.errors import SyncAuthError
from runt_action.livestore import Event, SyncServer, connect_store
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookMaterializer
from runt_action.viewer import Viewer, attach_viewer, cells_from_state, notebook_status
from runt_action.viewer.live import LiveNotebook


async def seed(writer: Connect, store_id: str = "nbA", title: str = "Sales <demo>") -> None:
    store = await writer(store_id)
    events: list[Any] = [ev.NotebookInitialized(id=store_id, title=title, ownerId="me")]
    events += cell_events("intro", "a0", "# Hello *world*", "markdown")
    events += cell_events("c1", "a1", "print('hi')")
    events += run_events("c1", "q1", "hi there\n")
    await commit_all(store, events)


async def test_index_lists_notebooks_with_title_status_and_last_update(
    served: tuple[SyncServer, Viewer], writer: Connect, http: aiohttp.ClientSession
) -> None:
    await seed(writer)
    _, viewer = served
    async with http.get(viewer.index_url) as resp:
        assert resp.status == 200
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert "Sales &lt;demo&gt;" in page  # escaped
    assert 'href="/nb/nbA"' in page
    assert "✓ success" in page
    assert "Z</td>" in page  # the last update, an ISO time from the server


async def test_notebook_page_renders_cells_like_the_report(
    served: tuple[SyncServer, Viewer], writer: Connect, http: aiohttp.ClientSession
) -> None:
    await seed(writer)
    _, viewer = served
    async with http.get(viewer.url("nbA")) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert '<section class="cell markdown status-not-executed" id="cell-intro"' in page
    assert "<em>world</em>" in page
    assert 'id="cell-c1"' in page and "status-success" in page
    assert "hi there" in page and "1.2 s" in page
    assert '<script src="/viewer.js"></script>' in page and 'data-live="/nb/nbA/live"' in page
    async with http.get(viewer.index_url + "viewer.js") as resp:
        assert resp.status == 200 and "new WebSocket" in await resp.text()


async def test_fragments_are_pushed_as_the_notebook_changes(
    served: tuple[SyncServer, Viewer], writer: Connect, http: aiohttp.ClientSession
) -> None:
    await seed(writer)
    _, viewer = served
    store = await writer("nbA")
    live = viewer.url("nbA").replace("http://", "ws://") + "/live"
    async with http.ws_connect(live) as ws:
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["order"] == ["intro", "c1"]
        assert set(first["cells"]) == {"intro", "c1"} and "nb-header" in first["header"]

        # A new cell starts running and prints: only that cell (and the order) come again.
        await commit_all(store, cell_events("c2", "a2", "slow()"))
        await commit_all(
            store,
            [
                ev.ExecutionRequested(queueId="q2", cellId="c2", executionCount=2, requestedBy="t"),
                ev.ExecutionStarted(
                    queueId="q2", cellId="c2", runtimeSessionId="s", startedAt="2026-12-01"
                ),
                ev.TerminalOutputAdded(
                    id="o2",
                    cellId="c2",
                    position=0,
                    content=ev.InlineMedia(data="step 1\n"),
                    streamName="stdout",
                ),
            ],
        )
        seen: dict[str, str] = {}
        while "step 1" not in seen.get("c2", ""):
            msg = json.loads((await ws.receive(timeout=10)).data)
            assert "intro" not in msg.get("cells", {}) and "c1" not in msg.get("cells", {})
            seen.update(msg.get("cells", {}))
            if "order" in msg:
                assert msg["order"] == ["intro", "c1", "c2"]
        assert "status-running" in seen["c2"]


async def test_stores_from_an_earlier_server_are_listed(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "events.sqlite"
    first = SyncServer(db)
    await first.start()
    try:
        store = await connect_store(
            first.url, "old1", {}, NotebookMaterializer(), client_id="a", session_id="b",
            timeouts=FAST,
        )  # fmt: skip
        async with store:
            await commit_all(store, [ev.NotebookInitialized(id="old1", title="Old", ownerId="x")])
    finally:
        await first.stop()
    second = SyncServer(db)
    viewer = attach_viewer(second)
    await second.start()
    try:
        async with http.get(viewer.index_url) as resp:
            page = await resp.text()
        assert 'href="/nb/old1"' in page and ">Old</a>" in page
    finally:
        await second.stop()


async def test_the_token_guards_every_page_and_never_shows(
    http: aiohttp.ClientSession,
) -> None:
    token = "viewer-tok-123"
    server = SyncServer()
    viewer = attach_viewer(server, token=token)
    await server.start()
    try:
        for url in (viewer.index_url, viewer.url("x")):
            async with http.get(url) as resp:
                assert resp.status == 401
            async with http.get(url + "?token=wrong") as resp:
                assert resp.status == 401
        live = viewer.url("x").replace("http://", "ws://") + "/live"
        async with http.get(viewer.url("x") + "/live") as resp:
            assert resp.status == 401

        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP host, as a browser keeps
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(
                viewer.url("x") + f"?token={token}&a=1", allow_redirects=False
            ) as resp:
                assert resp.status == 303
                assert resp.headers["Location"] == "/nb/x?a=1"  # the token is gone
                cookie = resp.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                assert token not in cookie
            async with browser.get(viewer.url("x")) as resp:
                assert resp.status == 404  # in: no notebook x yet, a page that waits for it
                assert token not in await resp.text()
            async with browser.get(viewer.index_url) as resp:
                assert resp.status == 200
            async with browser.ws_connect(live) as ws:
                assert "header" in json.loads((await ws.receive(timeout=10)).data)
    finally:
        await server.stop()


async def test_a_failing_push_listener_does_not_disturb_the_room_or_the_viewer(
    served: tuple[SyncServer, Viewer], writer: Connect, http: aiohttp.ClientSession
) -> None:
    server, viewer = served
    calls: list[str] = []

    def broken(store_id: str, events: Any) -> None:
        calls.append(store_id)
        raise RuntimeError("listener bug")

    server.add_push_listener(broken)
    viewer.notebook("nbA")  # loaded before the pushes: fed by the listener
    await seed(writer)  # every commit is still confirmed
    assert calls and set(calls) == {"nbA"}
    async with http.get(viewer.url("nbA")) as resp:
        assert "hi there" in await resp.text()


async def test_server_stop_closes_open_viewer_sockets(
    served: tuple[SyncServer, Viewer], writer: Connect, http: aiohttp.ClientSession
) -> None:
    await seed(writer)
    server, viewer = served
    live = viewer.url("nbA").replace("http://", "ws://") + "/live"
    async with http.ws_connect(live) as ws:
        await ws.receive(timeout=10)
        stopping = asyncio.ensure_future(server.stop())
        msg = await ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await asyncio.wait_for(stopping, 30)


async def _serve(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_serve_prints_the_viewer_url_and_serves_it() -> None:
    """A given token (RUNT_SERVE_TOKEN) is never printed: the viewer line is a one-time link."""
    proc = await _serve(env={"RUNT_SERVE_TOKEN": "tok-xyz"})
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        port = url.split(":")[2].split("/")[0]
        assert line.startswith(f"viewer: http://127.0.0.1:{port}/?code=")
        assert "tok-xyz" not in line and "?token=" in line
        entry = line.split()[1]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 401
            async with http.get(entry) as resp:
                assert resp.status == 200 and "Notebooks" in await resp.text()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(entry) as resp:
                assert resp.status == 401  # the code was spent
            async with http.get(f"http://127.0.0.1:{port}/?token=tok-xyz") as resp:
                assert resp.status == 200 and "Notebooks" in await resp.text()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await _stop(proc)


async def test_serve_without_a_token_makes_one_and_prints_what_clients_need() -> None:
    proc = await _serve()
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        viewer = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        sync = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        token = viewer.split("?token=")[1]
        assert len(token) >= 32 and f"RUNT_API_KEY={token}" in sync and url in sync
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http, http.get(viewer.split()[1]) as r:
            assert r.status == 200 and "Notebooks" in await r.text()
        for payload in (None, {"authToken": "guess"}):
            with pytest.raises(SyncAuthError):
                await connect_store(
                    url,
                    "s",
                    payload,
                    NotebookMaterializer(),
                    client_id="c",
                    session_id="s",
                    timeouts=FAST,
                )
        async with await connect_store(
            url,
            "s",
            {"authToken": token},
            NotebookMaterializer(),
            client_id="c",
            session_id="s",
            timeouts=FAST,
        ) as store:
            assert store.state.version == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await _stop(proc)


def _state_with(*events: Any) -> Any:
    from runt_action.schema.state import NotebookMaterializer

    mat = NotebookMaterializer()
    state = mat.initial()
    for event in events:
        name, args = event.wire()
        mat.apply(state, Event(name, args, 0, 0, "c", "s"))
    return state


def test_live_statuses_follow_the_queue() -> None:
    events: list[Any] = []
    events += cell_events("md", "a0", "# t", "markdown")
    for i, cell in enumerate(("idle", "queued", "running", "ok", "raised", "failed")):
        events += cell_events(cell, f"a{i + 1}", "x")
    events += [
        ev.ExecutionRequested(queueId="q1", cellId="queued", executionCount=1, requestedBy="t")
    ]
    events += run_events("running", "q2", "partial\n")[:3]
    events += run_events("ok", "q3", "fine\n")
    events += run_events("raised", "q4", "x")
    events.append(
        ev.ErrorOutputAdded(
            id="e4",
            cellId="raised",
            position=1,
            content=ev.InlineMedia(data={"ename": "E", "evalue": "v", "traceback": []}),
        )
    )
    events += run_events("failed", "q5", "x", status="error")
    state = _state_with(*events)
    statuses = {cell.id: live for cell, live in cells_from_state(state)}
    assert statuses == {
        "md": "not-executed",
        "idle": "idle",
        "queued": "queued",
        "running": "running",
        "ok": "success",
        "raised": "failed",  # completed, but it raised: as the runner counts it
        "failed": "failed",
    }
    rows = dict((c.id, c) for c, _ in cells_from_state(state))
    assert rows["ok"].duration_ms == 1234 and rows["ok"].attempts == 1
    assert rows["running"].duration_ms == 0  # no duration while it runs
    assert notebook_status(state, cells_from_state(state)) == "running"


def test_a_change_re_renders_only_the_cells_it_touched(monkeypatch: Any) -> None:
    import runt_action.viewer.live as live

    rendered: list[str] = []
    real = live.render_cell

    def counting(cell: Any, **kw: Any) -> Any:
        rendered.append(cell.id)
        return real(cell, **kw)

    monkeypatch.setattr(live, "render_cell", counting)
    notebook = LiveNotebook("nb")
    notebook.apply(_wire(cell_events("a", "a1", "x") + cell_events("b", "a2", "y")))
    notebook.render()
    assert sorted(rendered) == ["a", "b"]
    rendered.clear()
    notebook.apply(_wire(run_events("b", "q1", "out\n")))
    notebook.render()
    assert rendered == ["b"]


def _wire(events: list[Any]) -> list[Event]:
    return [Event(*e.wire(), 0, 0, "c", "s") for e in events]


async def test_known_secrets_are_masked_on_every_page(http: aiohttp.ClientSession) -> None:
    secret = "hunter2-secret-value"
    server = SyncServer()
    viewer = attach_viewer(server, secrets=[secret])
    await server.start()
    try:
        store = await connect_store(
            server.url, "nbS", {}, NotebookMaterializer(), client_id="a", session_id="b",
            timeouts=FAST,
        )  # fmt: skip
        async with store:
            events: list[Any] = [ev.NotebookInitialized(id="nbS", title=secret, ownerId="me")]
            events += cell_events("c1", "a1", f"token = {secret!r}")
            events += run_events("c1", "q1", f"the token is <{secret}>\n")
            await commit_all(store, events)
        for url in (viewer.index_url, viewer.url("nbS")):
            async with http.get(url) as resp:
                page = await resp.text()
            assert secret not in page and "***" in page
        async with http.ws_connect(viewer.url("nbS").replace("http", "ws") + "/live") as ws:
            message = (await ws.receive(timeout=10)).data
        assert secret not in message and "***" in message
    finally:
        await server.stop()


def test_a_finished_notebook_is_running_only_while_its_runtime_is_live() -> None:
    state = _state_with(*cell_events("a", "a1", "x"), *run_events("a", "q1", "ok\n"))
    cells = cells_from_state(state)
    assert notebook_status(state, cells, runtime_live=True) == "running"
    assert notebook_status(state, cells, runtime_live=False) == "success"
    assert notebook_status(state, cells) == "success"  # no session in the log at all
    failed = _state_with(*cell_events("a", "a1", "x"), *run_events("a", "q1", "", "error"))
    assert notebook_status(failed, cells_from_state(failed), runtime_live=False) == "failed"
    assert notebook_status(_state_with(*cell_events("a", "a1", "x")), []) == "idle"
