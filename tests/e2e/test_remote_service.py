"""The remote path end to end: a stand-in runt service (HTTP API + /livestore proxied to a
real SyncServer that requires the token), driven through the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

TOKEN = "tok-remote-8d1e2f3a4b5c"
NOTEBOOK_ID = "Reg1stered_1"


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, list[Any]]]:
    from runt_action.livestore.protocol import decode_query
    from runt_action.livestore.server import SyncServer, token_validator

    upstream = SyncServer(None, validate_payload=token_validator(TOKEN))
    await upstream.start()
    payloads: list[Any] = []

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        return web.json_response({"id": "user-42"})

    created: list[str] = []

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        # A new notebook per call, as the service makes them: the first is NOTEBOOK_ID.
        created.append(NOTEBOOK_ID if not created else f"{NOTEBOOK_ID}{len(created)}")
        return web.json_response({"id": created[-1], "title": (await request.json())["title"]})

    async def proxy(request: web.Request) -> web.StreamResponse:
        store_id, payload = decode_query(request.query_string)
        payloads.append((store_id, payload))
        async with aiohttp.ClientSession() as http:
            try:
                up = await http.ws_connect(
                    f"{upstream.url}/websocket?{request.query_string}", max_msg_size=0
                )
            except aiohttp.WSServerHandshakeError as exc:
                return web.Response(status=exc.status, text="refused")
            down = web.WebSocketResponse(max_msg_size=0)
            await down.prepare(request)

            async def pump(src: Any, dst: Any) -> None:
                async for msg in src:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await dst.send_str(msg.data)
                    else:
                        break
                await dst.close()

            tasks = [asyncio.create_task(pump(up, down)), asyncio.create_task(pump(down, up))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            await up.close()
            return down

    app = web.Application()
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/notebooks", create)
    app.router.add_get("/livestore/websocket", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}/livestore", payloads
    finally:
        await runner.cleanup()
        await upstream.stop()


async def test_registers_and_links_the_notebook(
    cli: Any, notebooks: Path, tmp_path: Path, service: tuple[str, list[Any]]
) -> None:
    url, payloads = service
    run = await cli(
        tmp_path,
        notebooks / "retry.yml",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": url},
        limit=90,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    origin = url.removesuffix("/livestore").replace("ws://", "http://")
    assert run.outputs["notebook-id"] == NOTEBOOK_ID
    assert run.outputs["notebook-url"] == f"{origin}/nb/{NOTEBOOK_ID}"
    assert f"{origin}/nb/{NOTEBOOK_ID}" in run.summary
    # One connection, shared by the runner and the in-process agent: the runtime payload
    # (runt-schema §5.3), with the user id from /api/me.
    [(store, runtime)] = payloads
    assert store == NOTEBOOK_ID
    assert runtime["runtime"] is True and runtime["authToken"] == TOKEN
    assert runtime["userId"] == "user-42" and runtime["runtimeId"] and runtime["sessionId"]
    shown = [line for line in run.stdout.splitlines() if line != f"::add-mask::{TOKEN}"]
    assert TOKEN not in "\n".join(shown) + run.stderr


async def test_wrong_token_is_exit_3_with_a_clear_message(
    cli: Any, notebooks: Path, tmp_path: Path, service: tuple[str, list[Any]]
) -> None:
    url, _ = service
    wrong = "tok-wrong-000111222"
    run = await cli(
        tmp_path,
        notebooks / "retry.yml",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": wrong, "INPUT_SYNC-URL": url},
        limit=60,
    )
    assert run.returncode == 3, run.stderr[-3000:]
    assert "rejected the token" in run.stderr
    assert wrong not in run.stderr


async def test_a_suite_runs_on_the_remote_service_one_notebook_each(
    tmp_path: Path, service: tuple[str, list[Any]]
) -> None:
    from tests.batch.conftest import FIXTURES, run_command

    url, payloads = service
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("pass.yml", "fail.yml"):
        (nbs / name).write_text((FIXTURES / "suite" / name).read_text())
    run = await run_command(
        tmp_path,
        "test",
        "nbs",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": url},
        limit=120,
    )
    assert run.returncode == 1, run.stderr[-3000:]  # fail.yml fails, pass.yml passes
    # Each notebook registered and ran in its own store, with the runtime payload and token.
    stores = sorted({store for store, _ in payloads})
    assert stores == [NOTEBOOK_ID, f"{NOTEBOOK_ID}1"]
    assert all(p["runtime"] is True and p["authToken"] == TOKEN for _, p in payloads)
    results = {r["notebook"]: r for r in json.loads(run.outputs["results"])}
    assert results["nbs/pass.yml"]["status"] == "success"
    assert results["nbs/fail.yml"]["status"] == "failed"
    assert sorted(r["notebook-id"] for r in results.values()) == stores
    origin = url.removesuffix("/livestore").replace("ws://", "http://")
    summary = run.summary.replace("\\", "")
    assert sum(f"{origin}/nb/{store}" in summary for store in stores) == 2
    shown = [line for line in run.stdout.splitlines() if line != f"::add-mask::{TOKEN}"]
    assert TOKEN not in "\n".join(shown) + run.stderr + run.summary
