"""Remote-service rules, against a local aiohttp app standing in for the runt HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from runt_action.errors import SyncAuthError, UsageError
from runt_action.orchestrator.remote import (
    check_sync_url,
    http_origin,
    notebook_link,
    register_notebook,
)

TOKEN = "secret-token-value-123"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("wss://app.runt.run/livestore", "wss://app.runt.run/livestore"),
        ("wss://app.runt.run/livestore/", "wss://app.runt.run/livestore"),
        ("ws://127.0.0.1:8787/livestore", "ws://127.0.0.1:8787/livestore"),
        ("https://app.runt.run/livestore", "wss://app.runt.run/livestore"),
    ],
)
def test_sync_url_accepted(url: str, expected: str) -> None:
    assert check_sync_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "wss://app.runt.run",
        "wss://app.runt.run/sync",
        "app.runt.run/livestore",
        "ftp://x/livestore",
    ],
)
def test_sync_url_rejected_clearly(url: str) -> None:
    with pytest.raises(UsageError) as info:
        check_sync_url(url)
    assert "/livestore" in str(info.value) or "websocket URL" in str(info.value)


def test_link_derives_from_sync_url() -> None:
    assert http_origin("wss://app.runt.run/livestore") == "https://app.runt.run"
    assert notebook_link("wss://app.runt.run/livestore", "abc") == "https://app.runt.run/nb/abc"
    assert http_origin("ws://127.0.0.1:9/livestore") == "http://127.0.0.1:9"


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "no"}, status=401)
        return web.json_response({"id": "user-42", "email": "a@b"})

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "no"}, status=401)
        body = await request.json()
        seen.append(body)
        return web.json_response({"id": "Ab3_def456gh", "title": body["title"]})

    app = web.Application()
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/notebooks", create)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}/livestore", seen
    finally:
        await runner.cleanup()


async def test_register_uses_the_service_id(api: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = api
    reg = await register_notebook(url, TOKEN, title="My run", fallback_id="minted", limit=5)
    assert reg.registered and reg.notebook_id == "Ab3_def456gh" and reg.user_id == "user-42"
    assert seen == [{"title": "My run"}]


async def test_bad_token_is_an_auth_error_without_the_token(
    api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = api
    wrong = "wrong-token-xyz"
    with pytest.raises(SyncAuthError) as info:
        await register_notebook(url, wrong, title="t", fallback_id="minted", limit=5)
    assert wrong not in str(info.value)


async def test_server_without_api_keeps_minted_id(server: Any) -> None:
    reg = await register_notebook(server.url, TOKEN, title="t", fallback_id="minted", limit=5)
    assert not reg.registered and reg.notebook_id == "minted"
    assert reg.note and TOKEN not in reg.note


async def test_unreachable_service_keeps_minted_id() -> None:
    reg = await register_notebook(
        "ws://127.0.0.1:9/livestore", TOKEN, title="t", fallback_id="minted", limit=2
    )
    assert not reg.registered and reg.notebook_id == "minted" and reg.user_id is None


async def test_given_id_is_not_registered_again(api: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = api
    reg = await register_notebook(
        url, TOKEN, title="t", fallback_id="given_id", limit=5, create=False
    )
    assert reg.notebook_id == "given_id" and reg.user_id == "user-42"
    assert seen == []
