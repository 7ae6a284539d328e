"""run_agent: its own Store, the runtime payload, SIGTERM, and the /api/me lookup."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from runt_action.agents.payload import runtime_payload
from runt_action.agents.standalone import api_origin, fetch_user_id, run_agent
from runt_action.errors import SyncAuthError, UsageError
from runt_action.livestore.server import SyncServer
from runt_action.timeouts import Timeouts

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import Notebook

TIMEOUTS = Timeouts(connect=10, request=10, startup=60)


def test_runtime_payload_variants() -> None:
    assert runtime_payload(auth_token=None, runtime_id="r", session_id="s", user_id="u") is None
    assert runtime_payload(auth_token="tok", runtime_id="r", session_id="s", user_id="u") == {
        "authToken": "tok",
        "runtime": True,
        "runtimeId": "r",
        "sessionId": "s",
        "userId": "u",
    }


def test_api_origin() -> None:
    assert api_origin("wss://app.runt.run/livestore") == "https://app.runt.run"
    assert api_origin("ws://127.0.0.1:8787/livestore") == "http://127.0.0.1:8787"


@pytest.fixture
async def api() -> AsyncIterator[str]:
    async def me(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer good":
            return web.json_response({"error": "nope"}, status=401)
        return web.json_response({"id": "user-123", "email": "a@b"})

    app = web.Application()
    app.router.add_get("/api/me", me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}/livestore"
    finally:
        await runner.cleanup()


async def test_fetch_user_id(api: str) -> None:
    assert await fetch_user_id(api, "good") == "user-123"
    with pytest.raises(SyncAuthError):
        await fetch_user_id(api, "bad")


async def test_unknown_runtime_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        await run_agent(
            notebook_id="nb",
            sync_url="ws://127.0.0.1:9/livestore",
            runtime="cobol",
            timeouts=TIMEOUTS,
        )


async def test_run_agent_sends_the_runtime_payload(store_id: str) -> None:
    seen: list[Any] = []
    server = SyncServer(validate_payload=seen.append)
    await server.start()
    try:
        ready = asyncio.Event()
        task = asyncio.create_task(
            run_agent(
                notebook_id=store_id,
                sync_url=server.url,
                runtime="python",
                auth_token="tok",
                user_id="user-1",
                timeouts=TIMEOUTS,
                handle_signals=False,
                ready=ready,
            )
        )
        await asyncio.wait_for(ready.wait(), 60)
        [payload] = seen
        assert payload["authToken"] == "tok" and payload["userId"] == "user-1"
        assert payload["runtime"] is True and payload["runtimeId"] and payload["sessionId"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await server.stop()


async def test_run_agent_process_runs_until_sigterm(notebook: Notebook, store_id: str) -> None:
    url = notebook.url
    code = (
        "import asyncio, sys\n"
        "from runt_action.agents.standalone import run_agent\n"
        "from runt_action.timeouts import Timeouts\n"
        "asyncio.run(run_agent(notebook_id=sys.argv[1], sync_url=sys.argv[2], runtime='python',"
        " timeouts=Timeouts(startup=60)))\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, store_id, url)
    try:
        session = await notebook.wait(
            lambda s: next((x for x in s.sessions.values() if x.status == "ready"), None), 60
        )
        cell, _, done = await notebook.run("print('from the agent process')")
        assert done["status"] == "success"
        assert notebook.text(cell) == "from the agent process\n"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await notebook.wait(lambda s: s.sessions[session.session_id].status == "terminated")
        [term] = notebook.events("v1.RuntimeSessionTerminated")
        assert term.args["reason"] == "shutdown"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
