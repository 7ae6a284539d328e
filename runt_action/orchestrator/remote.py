"""The remote runt service: sync URL rules, notebook registration, the user id, the link.

The runt UI only opens notebooks that have a D1 record, so with a token we create one over
HTTP first (runt-schema §5.4) and use its id as the store id. The token goes in headers
only; no message here ever contains it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from runt_action.errors import SyncAuthError, UsageError

__all__ = ["Registration", "check_sync_url", "http_origin", "notebook_link", "register_notebook"]

log = logging.getLogger(__name__)


def check_sync_url(url: str) -> str:
    """The sync URL, normalised; UsageError unless it is ws(s)://.../livestore."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        raise UsageError(
            f"sync URL {url!r} is not a websocket URL (expected e.g. wss://app.runt.run/livestore)"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/livestore"):
        raise UsageError(
            f"sync URL {url!r} must end in /livestore (e.g. wss://app.runt.run/livestore): "
            "the runt backend only routes websocket upgrades under /livestore"
        )
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{path}"


def http_origin(sync_url: str) -> str:
    """wss://host/livestore -> https://host (the HTTP API and the UI live there)."""
    parts = urlsplit(sync_url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return f"{scheme}://{parts.netloc}"


def notebook_link(sync_url: str, notebook_id: str) -> str:
    return f"{http_origin(sync_url)}/nb/{notebook_id}"


@dataclass(frozen=True, slots=True)
class Registration:
    notebook_id: str
    registered: bool  # a D1 record exists, so the link opens a real notebook
    user_id: str | None  # from GET /api/me, for the runtime payload
    note: str | None = None  # why registration did not happen, one line


async def register_notebook(
    sync_url: str,
    token: str,
    *,
    title: str,
    fallback_id: str,
    limit: float | None,
    create: bool = True,
) -> Registration:
    """GET /api/me, then POST /api/notebooks unless ``create`` is false (a given id).

    A 401/403 is a bad token (SyncAuthError); an unreachable or API-less server (e.g. a bare
    sync server) is not an error: the run proceeds with the minted id.
    """
    origin = http_origin(sync_url)
    headers = {"Authorization": f"Bearer {token}"}
    client_timeout = aiohttp.ClientTimeout(total=limit)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout, headers=headers) as http:
            user_id = await _me(http, origin)
            if not create:  # an existing notebook (NOTEBOOK_ID): only the user id is needed
                return Registration(fallback_id, True, user_id)
            async with http.post(
                f"{origin}/api/notebooks", json={"title": (title or "Automation run")[:255]}
            ) as resp:
                if resp.status in (401, 403):
                    raise SyncAuthError(
                        f"the runt service at {origin} rejected the token (HTTP {resp.status})"
                    )
                if resp.status >= 300:
                    return Registration(
                        fallback_id,
                        False,
                        user_id,
                        f"{origin} has no notebook API (HTTP {resp.status})",
                    )
                body: Any = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Registration(
            fallback_id,
            False,
            None,
            f"could not register the notebook at {origin}: {type(exc).__name__}",
        )
    notebook_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(notebook_id, str) or not notebook_id:
        return Registration(fallback_id, False, user_id, f"{origin} answered without a notebook id")
    return Registration(notebook_id, True, user_id)


async def _me(http: aiohttp.ClientSession, origin: str) -> str | None:
    async with http.get(f"{origin}/api/me") as resp:
        if resp.status in (401, 403):
            raise SyncAuthError(
                f"the runt service at {origin} rejected the token (HTTP {resp.status})"
            )
        if resp.status != 200:
            return None
        body: Any = await resp.json(content_type=None)
    value = body.get("id") if isinstance(body, dict) else None
    return str(value) if value else None
