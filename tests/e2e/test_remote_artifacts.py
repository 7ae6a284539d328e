"""Issue 23, remote mode: large outputs go to the runt service's artifact API at the sync
URL's origin (a 127.0.0.1 stand-in following runt-schema §5.5: POST /api/artifacts with the
bearer token and x-notebook-id, GET /api/artifacts/<id>), driven through the CLI; the events
on the (real) sync server carry artifact representations, and the .ipynb the full data."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from runt_action.livestore.server import SyncServer

TOKEN = "tok-artifacts-5f4e3d2c1b0a"
NOTEBOOK_ID = "Art1facts_nb"


@dataclass
class Service:
    url: str
    upstream: SyncServer
    uploads: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    from runt_action.livestore.server import token_validator

    upstream = SyncServer(None, validate_payload=token_validator(TOKEN))
    await upstream.start()
    state = Service("", upstream)

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        return web.json_response({"id": "user-7"})

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({}, status=401)
        return web.json_response({"id": NOTEBOOK_ID})

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


NOTEBOOK = """\
cells:
  - id: big
    source: |
      import base64, random
      from IPython.display import display, HTML
      head = b"\\x89PNG\\r\\n\\x1a\\n"
      png = base64.b64encode(head + random.Random(3).randbytes(20_000)).decode()
      display({"image/png": png, "text/plain": "<fig>"}, raw=True)
      display(HTML("<table>" + "<tr><td>cell</td></tr>" * 100_000 + "</table>"))
"""


async def test_a_remote_run_uploads_to_the_services_artifact_api(
    cli: Any, tmp_path: Path, service: Service
) -> None:
    notebook = tmp_path / "big.yml"
    notebook.write_text(NOTEBOOK)
    run = await cli(
        tmp_path,
        notebook,
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": service.url},
        limit=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # Both uploads carried the bearer token and the notebook id; the PNG as the image itself.
    assert [(u["authorization"], u["notebook"]) for u in service.uploads] == [
        (f"Bearer {TOKEN}", NOTEBOOK_ID)
    ] * 2
    assert [u["content_type"].split(";")[0] for u in service.uploads] == ["image/png", "text/html"]
    # The sync server holds artifact representations (each event fits a frame)...
    reps = [
        e.args["representations"]
        for e in service.upstream.events_of(NOTEBOOK_ID)
        if e.name == "v1.MultimediaDisplayOutputAdded"
    ]
    assert [r["image/png"]["type"] for r in reps[:1]] == ["artifact"]
    assert reps[1]["text/html"]["artifactId"] in service.blobs
    # ... and the executed notebook has the data back, exactly.
    assert run.ipynb is not None
    outputs = run.ipynb["cells"][0]["outputs"]
    png = "".join(outputs[0]["data"]["image/png"])
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 26_000
    assert "".join(outputs[1]["data"]["text/html"]) == (
        "<table>" + "<tr><td>cell</td></tr>" * 100_000 + "</table>"
    )
    assert TOKEN not in run.stderr
