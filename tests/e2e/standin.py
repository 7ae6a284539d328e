"""A 127.0.0.1 stand-in for the runt service (runt-schema §5.5), driven by the real CLI.

``/api/me``, ``/api/notebooks`` (a new notebook id per call: the first is the one given),
the artifact API (``POST /api/artifacts`` with the bearer token and ``x-notebook-id``; ``GET``
public, as upstream's) and ``/livestore/websocket`` proxied to a real :class:`SyncServer` that
requires the token. It records what it was sent, for the tests to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from runt_action.livestore.protocol import decode_query
from runt_action.livestore.server import SyncServer, token_validator

__all__ = ["StandIn", "runt_service"]


@dataclass
class StandIn:
    url: str  # the sync URL: ws://127.0.0.1:PORT/livestore
    upstream: SyncServer
    payloads: list[tuple[str, Any]] = field(default_factory=list)  # (store id, payload)
    created: list[str] = field(default_factory=list)  # notebook ids handed out
    uploads: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def runt_service(token: str, notebook_id: str, user_id: str) -> AsyncIterator[StandIn]:
    upstream = SyncServer(None, validate_payload=token_validator(token))
    await upstream.start()
    state = StandIn("", upstream)

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {token}"

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        return web.json_response({"id": user_id})

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        created = state.created
        created.append(notebook_id if not created else f"{notebook_id}{len(created)}")
        return web.json_response({"id": created[-1], "title": (await request.json())["title"]})

    async def post_artifact(request: web.Request) -> web.Response:
        body = await request.read()
        state.uploads.append(
            {
                "authorization": request.headers.get("Authorization"),
                "notebook": request.headers.get("x-notebook-id"),
                "content_type": request.headers.get("Content-Type"),
                "size": len(body),
            }
        )
        if not authorized(request):
            return web.json_response({"error": "Unauthorized"}, status=401)
        artifact_id = f"{request.headers['x-notebook-id']}/{uuid.uuid4()}"
        state.blobs[artifact_id] = (request.headers.get("Content-Type", ""), body)
        return web.json_response({"artifactId": artifact_id})

    async def get_artifact(request: web.Request) -> web.Response:  # public upstream
        found = state.blobs.get(request.match_info["artifact_id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[1], content_type=found[0].split(";")[0])

    async def proxy(request: web.Request) -> web.StreamResponse:
        state.payloads.append(decode_query(request.query_string))
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

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/notebooks", create)
    app.router.add_post("/api/artifacts", post_artifact)
    app.router.add_get("/api/artifacts/{artifact_id:.+}", get_artifact)
    app.router.add_get("/livestore/websocket", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"ws://127.0.0.1:{port}/livestore"
    try:
        yield state
    finally:
        await runner.cleanup()
        await upstream.stop()
