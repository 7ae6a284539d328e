"""The viewer's routes on the sync server's aiohttp app, its token check and its websocket.

Read-only: no route writes to a store. With a token, every route needs it: ``?token=`` once
sets an HttpOnly cookie (holding an HMAC of the token, never the token) and redirects to the
same address without it, so the token stays out of history and logs; otherwise 401.

Live updates: a page opens ``/nb/<id>/live`` (a websocket); the server sends the fragments it
has not sent that page yet whenever a push changes the notebook. The page's script only swaps
fragments; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import WSMsgType, web
from markupsafe import Markup

from runt_action.livestore.events import Event
from runt_action.livestore.server import SyncServer
from runt_action.report.html import stylesheet
from runt_action.report.scrub import Scrubber
from runt_action.viewer.live import LiveNotebook, Subscriber, viewer_environment

__all__ = ["VIEWER_CSP", "Viewer", "attach_viewer"]

COOKIE = "runt_viewer"
#: The report's policy plus our own script and websocket (same origin only).
VIEWER_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-src 'self' about:; base-uri 'none'; form-action 'none'"
)
_SCRIPT = Path(__file__).with_name("assets") / "viewer.js"
_HEADERS = {
    "Content-Security-Policy": VIEWER_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Viewer:
    """The viewer mounted on one :class:`SyncServer` (see :func:`attach_viewer`)."""

    def __init__(
        self, server: SyncServer, *, token: str | None = None, secrets: Sequence[str] = ()
    ) -> None:
        self._server = server
        self._token = token
        self._scrubber = Scrubber(secrets)
        self._cookie = (
            hmac.new(token.encode(), b"runt-viewer", hashlib.sha256).hexdigest() if token else None
        )
        self._notebooks: dict[str, LiveNotebook] = {}
        self._sockets: set[web.WebSocketResponse] = set()

    # -- addresses ----------------------------------------------------------------------

    @property
    def index_url(self) -> str:
        """``http://host:port/`` once the server is started (from the server's own URL)."""
        parts = urlsplit(self._server.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc}/"

    def url(self, notebook_id: str) -> str:
        return f"{self.index_url}nb/{quote(notebook_id, safe='')}"

    # -- state ----------------------------------------------------------------------------

    def _on_push(self, store_id: str, events: Sequence[Event]) -> None:
        notebook = self._notebooks.get(store_id)
        if notebook is not None:  # stores nobody looked at are loaded when first asked for
            notebook.apply(events)

    def notebook(self, store_id: str, *, keep: bool = False) -> LiveNotebook:
        """The store's live state, rebuilt from the server's log the first time.

        A store with no events is kept (and fed by pushes) only when ``keep``: while a page
        waits on it. So asking for made-up ids costs nothing that outlives the request.
        """
        notebook = self._notebooks.get(store_id)
        if notebook is None:
            notebook = LiveNotebook(store_id, scrubber=self._scrubber)
            notebook.apply(self._server.events_of(store_id))
            if keep or notebook.state.version:
                self._notebooks[store_id] = notebook
        return notebook

    def _forget_if_empty(self, notebook: LiveNotebook) -> None:
        if not notebook.subscribers and not notebook.state.version:
            self._notebooks.pop(notebook.store_id, None)

    # -- auth ---------------------------------------------------------------------------

    def _cookie_ok(self, request: web.Request) -> bool:
        given = request.cookies.get(COOKIE, "")
        return self._cookie is not None and hmac.compare_digest(given, self._cookie)

    def _token_ok(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        return self._token is not None and hmac.compare_digest(given, self._token)

    def _guard(self, handler: Handler) -> Handler:
        """Require the token: the cookie, or ``?token=`` once (then a redirect without it)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if self._token is None or self._cookie_ok(request):
                return await handler(request)
            if self._token_ok(request):
                query = {k: v for k, v in request.query.items() if k != "token"}
                target = request.rel_url.with_query(query or None)
                response = web.Response(status=303, headers={**_HEADERS, "Location": str(target)})
                assert self._cookie is not None
                response.set_cookie(
                    COOKIE, self._cookie, httponly=True, samesite="Strict", path="/"
                )
                return response
            return web.Response(
                status=401,
                text="401: this viewer needs its token: open it once with ?token=<token>\n",
                headers={**_HEADERS, "WWW-Authenticate": 'Bearer realm="runt viewer"'},
            )

        return guarded

    # -- routes -------------------------------------------------------------------------

    def _page(self, template: str, **context: object) -> web.Response:
        html = (
            viewer_environment()
            .get_template(template)
            .render(csp=VIEWER_CSP, css=Markup(stylesheet()), **context)
        )
        return web.Response(text=html, content_type="text/html", headers=_HEADERS)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        rows = []
        for store_id in self._server.store_ids():
            notebook = self.notebook(store_id)
            if not notebook.state.version:
                continue  # a table with no events
            rendered = notebook.render()
            rows.append(
                {
                    "id": store_id,
                    "href": f"/nb/{quote(store_id, safe='')}",
                    "title": rendered.title,
                    "status": rendered.status,
                    "updated": notebook.last_update or "",
                    "cells": rendered.count,
                }
            )
        rows.sort(key=lambda r: str(r["updated"]), reverse=True)
        return self._page("index.html.j2", notebooks=rows)

    async def _notebook_page(self, request: web.Request) -> web.StreamResponse:
        store_id = request.match_info["id"]
        rendered = self.notebook(store_id).render()
        return self._page(
            "notebook.html.j2",
            rendered=rendered,
            cells=[Markup(rendered.cells[c]) for c in rendered.order],
            header=Markup(rendered.header),
            live=f"/nb/{quote(store_id, safe='')}/live",
        )

    async def _script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=_SCRIPT.read_text(encoding="utf-8"),
            content_type="text/javascript",
            headers=_HEADERS,
        )

    async def _live(self, request: web.Request) -> web.StreamResponse:
        notebook = self.notebook(request.match_info["id"], keep=True)
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        sub = Subscriber()
        notebook.subscribers.add(sub)
        self._sockets.add(ws)
        reader = asyncio.ensure_future(self._drain(ws, sub))
        try:
            while not sub.closed and not ws.closed:
                sub.wake.clear()
                message = notebook.diff(sub)
                if message is not None:
                    await ws.send_str(json.dumps(message))
                await sub.wake.wait()
        except ConnectionResetError:
            pass  # the page went away mid-send
        finally:
            notebook.subscribers.discard(sub)
            self._forget_if_empty(notebook)
            self._sockets.discard(ws)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()
        return ws

    @staticmethod
    async def _drain(ws: web.WebSocketResponse, sub: Subscriber) -> None:
        """Read (and ignore: the viewer is read-only) until the page closes the socket."""
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            sub.closed = True
            sub.wake.set()

    async def _close_sockets(self, app: web.Application) -> None:
        """On server stop: close every page's socket so shutdown does not wait for them."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")

    def mount(self) -> None:
        app = self._server.app
        router = app.router
        router.add_get("/", self._guard(self._index))
        router.add_get("/viewer.js", self._script)  # static, no data: needs no token
        router.add_get("/nb/{id}", self._guard(self._notebook_page))
        router.add_get("/nb/{id}/live", self._guard(self._live))
        app.on_shutdown.append(self._close_sockets)
        self._server.add_push_listener(self._on_push)


def attach_viewer(
    server: SyncServer, *, token: str | None = None, secrets: Sequence[str] = ()
) -> Viewer:
    """Mount the viewer on ``server`` (call before ``server.start()``).

    ``secrets``: values to mask in every page, as the reports do (an embedded run knows its
    secret parameters; ``serve`` knows none).
    """
    viewer = Viewer(server, token=token, secrets=secrets)
    viewer.mount()
    return viewer
