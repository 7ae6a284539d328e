"""livestore.artifacts: upstream's artifact API on our sync server, behind its token."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from runt_action.livestore.artifacts import ArtifactStore, artifact_dir_for
from runt_action.livestore.server import SyncServer

TOKEN = "artifact-test-token"


@pytest.fixture
async def server() -> AsyncIterator[SyncServer]:
    srv = SyncServer(token=TOKEN)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_post_then_get_round_trips_bytes_and_type(server: SyncServer) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)  # several streamed pieces
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.http_url}/api/artifacts",
            data=body,
            headers={**_auth(), "x-notebook-id": "nb_1", "Content-Type": "image/png"},
        ) as resp:
            assert resp.status == 200
            artifact_id = (await resp.json())["artifactId"]
        notebook, _, key = artifact_id.partition("/")
        assert notebook == "nb_1" and len(key) == 32
        async with http.get(f"{server.http_url}/api/artifacts/{artifact_id}", headers=_auth()) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "image/png"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert await r.read() == body


@pytest.mark.parametrize("headers", [{}, _auth("wrong"), {"Authorization": f"Basic {TOKEN}"}])
async def test_unauthenticated_requests_are_refused(
    server: SyncServer, headers: dict[str, str]
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.http_url}/api/artifacts",
            data=b"secret output",
            headers={**headers, "x-notebook-id": "nb"},
        ) as resp:
            assert resp.status == 401
        async with http.post(
            f"{server.http_url}/api/artifacts",
            data=b"secret output",
            headers={**_auth(), "x-notebook-id": "nb"},
        ) as resp:
            artifact_id = (await resp.json())["artifactId"]
        async with http.get(
            f"{server.http_url}/api/artifacts/{artifact_id}", headers=headers
        ) as resp:
            assert resp.status == 401
            assert b"secret output" not in await resp.read()
    assert len(list(server.artifacts.directory.rglob("*.json"))) == 1  # nothing stored


async def test_a_foreign_origin_is_refused(server: SyncServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.http_url}/api/artifacts",
            data=b"x",
            headers={**_auth(), "x-notebook-id": "nb", "Origin": "https://evil.example"},
        ) as resp,
    ):
        assert resp.status == 403


@pytest.mark.parametrize("notebook", ["", "../etc", "a/b", "x" * 129])
async def test_a_bad_notebook_id_is_refused(server: SyncServer, notebook: str) -> None:
    headers = {**_auth(), "x-notebook-id": notebook} if notebook else _auth()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.http_url}/api/artifacts", data=b"x", headers=headers) as resp,
    ):
        assert resp.status == 400


@pytest.mark.parametrize("artifact_id", ["nb/0000", "nb/../../x", "nope", f"nb/{'0' * 32}"])
async def test_unknown_ids_are_404(server: SyncServer, artifact_id: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http_url}/api/artifacts/{artifact_id}", headers=_auth()) as resp,
    ):
        assert resp.status == 404


async def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    srv = SyncServer(token=TOKEN)
    await srv.start()
    try:
        srv.artifacts.max_bytes = 1000

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused mid-stream
            for _ in range(5):
                yield b"y" * 600

        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{srv.http_url}/api/artifacts",
                data=chunks(),
                headers={**_auth(), "x-notebook-id": "nb"},
            ) as resp,
        ):
            assert resp.status == 413
        assert [p for p in srv.artifacts.directory.rglob("*") if p.is_file()] == []
    finally:
        await srv.stop()


async def test_blobs_live_beside_the_event_log_and_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    srv = SyncServer(db, token=TOKEN)
    await srv.start()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{srv.http_url}/api/artifacts",
            data=b"kept",
            headers={**_auth(), "x-notebook-id": "nb", "Content-Type": "text/html"},
        ) as resp,
    ):
        artifact_id = (await resp.json())["artifactId"]
    await srv.stop()
    assert artifact_dir_for(db).is_dir()
    again = SyncServer(db, token=TOKEN)
    await again.start()
    try:
        assert again.artifacts.read(artifact_id) == b"kept"
        info = again.artifacts.info(artifact_id)
        assert info is not None and info.content_type == "text/html"
    finally:
        await again.stop()


async def test_an_in_memory_server_removes_its_blobs_when_it_stops() -> None:
    srv = SyncServer(token=TOKEN)
    await srv.start()
    folder = srv.artifacts.directory
    assert folder.is_dir() and (folder.stat().st_mode & 0o077) == 0  # private to this user
    await srv.stop()
    assert not folder.exists()


def test_store_ids_cannot_escape_the_folder(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    assert store.info("../x/" + "0" * 32) is None
    assert store.read("nb/" + "0" * 32) is None
