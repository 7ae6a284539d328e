"""livestore.server ``public_artifact_reads``: downloads as upstream's (an id is enough), for
the runt web app's ``<img src>`` (tests/interop/webapp/); uploads still need the token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from runt_action.livestore.server import SyncServer

TOKEN = "public-reads-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _server(public: bool) -> SyncServer:
    server = SyncServer(token=TOKEN, public_artifact_reads=public)
    await server.start()
    return server


@pytest.fixture
async def public() -> AsyncIterator[SyncServer]:
    server = await _server(True)
    try:
        yield server
    finally:
        await server.stop()


async def _upload(http: aiohttp.ClientSession, server: SyncServer, body: bytes) -> str:
    async with http.post(
        f"{server.http_url}/api/artifacts",
        data=body,
        headers={**AUTH, "x-notebook-id": "nb", "Content-Type": "image/png"},
    ) as resp:
        assert resp.status == 200
        return str((await resp.json())["artifactId"])


async def test_a_download_needs_only_the_id(public: SyncServer) -> None:
    async with aiohttp.ClientSession() as http:
        artifact_id = await _upload(http, public, b"\x89PNG pixels")
        async with http.get(f"{public.http_url}/api/artifacts/{artifact_id}") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert await resp.read() == b"\x89PNG pixels"
        # An id nobody was given finds nothing (the random part is the capability).
        async with http.get(f"{public.http_url}/api/artifacts/nb/{'0' * 32}") as resp:
            assert resp.status == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_an_upload_still_needs_the_token(public: SyncServer, headers: dict[str, str]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{public.http_url}/api/artifacts",
            data=b"planted",
            headers={**headers, "x-notebook-id": "nb"},
        ) as resp,
    ):
        assert resp.status == 401
    assert list(public.artifacts.directory.iterdir()) == []


async def test_the_host_and_origin_rule_still_holds(public: SyncServer) -> None:
    async with aiohttp.ClientSession() as http:
        artifact_id = await _upload(http, public, b"output")
        url = f"{public.http_url}/api/artifacts/{artifact_id}"
        async with http.get(url, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 403  # another site's script may not read it
        async with http.get(url, headers={"Host": "rebound.example"}) as resp:
            assert resp.status == 403  # nor a page through DNS rebinding


async def test_off_by_default_a_download_needs_the_token() -> None:
    server = SyncServer(token=TOKEN)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            artifact_id = await _upload(http, server, b"output")
            url = f"{server.http_url}/api/artifacts/{artifact_id}"
            async with http.get(url) as resp:
                assert resp.status == 401
            async with http.get(url, headers=AUTH) as resp:
                assert await resp.read() == b"output"
    finally:
        await server.stop()


async def test_serve_public_artifact_reads_flag() -> None:
    """``runt-automate serve --public-artifact-reads``: a real server process, token given by
    RUNT_SERVE_TOKEN; an upload needs it, a download only the id."""
    import asyncio
    import os
    import signal
    import sys

    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "runt_action", "serve", "--port", "0"),
        "--public-artifact-reads",
        env={**os.environ, "RUNT_SERVE_TOKEN": TOKEN},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        origin = line.decode().strip().replace("ws://", "http://").removesuffix("/livestore")
        async with aiohttp.ClientSession() as http:
            headers = {"x-notebook-id": "nb", "Content-Type": "image/png"}
            async with http.post(f"{origin}/api/artifacts", data=b"x", headers=headers) as r:
                assert r.status == 401
            async with http.post(
                f"{origin}/api/artifacts", data=b"png", headers={**AUTH, **headers}
            ) as r:
                assert r.status == 200
                artifact_id = (await r.json())["artifactId"]
            async with http.get(f"{origin}/api/artifacts/{artifact_id}") as r:
                assert r.status == 200 and await r.read() == b"png"
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
