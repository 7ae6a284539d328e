"""The viewer's routes on the sync server's aiohttp app, its entry check and its websocket.

Read-only: no route writes to a store. Every route first asks the server whether it answers
this request at all (:meth:`SyncServer.refusal`: a foreign Host, as DNS rebinding sends, or a
foreign Origin, as a page of another port or site sends, is a 403 before anything is read).

With a token (the server's own by default), every route but ``/viewer.js`` needs a session:
``?token=<token>`` (reusable, as Jupyter Server) or ``?code=<code>`` (one use, minutes long,
from :meth:`Viewer.entry_url`, which is what a run prints so the token itself never is) is
exchanged for a cookie holding a random session id and a redirect to the same address
without the secret. The cookie is named after the port: cookies ignore ports, and two servers
on one host must not overwrite (or open) each other's sessions.

Live updates: a page opens ``/nb/<id>/live`` (a websocket); the server sends the fragments it
has not sent that page yet whenever a push changes the notebook. The page's script only swaps
fragments; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from time import monotonic
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import WSMsgType, web
from markupsafe import Markup

from runt_action.livestore.auth import new_secret, same_secret
from runt_action.livestore.events import Event
from runt_action.livestore.server import SyncServer
from runt_action.report.html import stylesheet
from runt_action.report.scrub import Scrubber
from runt_action.viewer.live import LiveNotebook, Subscriber, viewer_environment

__all__ = ["CODE_TTL", "VIEWER_CSP", "VIEWER_HEADER_CSP", "Viewer", "attach_viewer"]

COOKIE_PREFIX = "runt_viewer_"
#: How long an entry code from :meth:`Viewer.entry_url` stays valid (it is also single-use).
CODE_TTL = 15 * 60.0
# Bounds, so no client can grow the viewer's memory: the oldest are forgotten first.
MAX_SESSIONS = 256
MAX_CODES = 64
_ENTRY_PARAMS = ("token", "code")

#: The report's policy plus our own script and websocket (same origin only). This is also
#: the page's <meta> policy, where ``frame-ancestors`` is ignored (with a console error).
VIEWER_CSP = (
    "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-src 'self' about:; base-uri 'none'; form-action 'none'"
)
#: The header's policy: no other page may frame the viewer (clickjacking).
VIEWER_HEADER_CSP = VIEWER_CSP + "; frame-ancestors 'none'"
_SCRIPT = Path(__file__).with_name("assets") / "viewer.js"
_HEADERS = {
    "Content-Security-Policy": VIEWER_HEADER_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Viewer:
    """The viewer mounted on one :class:`SyncServer` (see :func:`attach_viewer`)."""

    def __init__(
        self,
        server: SyncServer,
        *,
        token: str | None = None,
        secrets: Sequence[str] = (),
        code_ttl: float = CODE_TTL,
    ) -> None:
        self._server = server
        self._token = token if token is not None else server.token
        self._scrubber = Scrubber(secrets)
        self._code_ttl = code_ttl
        self._sessions: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        self._codes: dict[str, float] = {}  # code -> monotonic deadline
        self._notebooks: dict[str, LiveNotebook] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._index_subscribers: set[Subscriber] = set()  # pages showing the index, live

    # -- addresses ----------------------------------------------------------------------

    @property
    def index_url(self) -> str:
        """``http://host:port/`` once the server is started (from the server's own URL)."""
        parts = urlsplit(self._server.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc}/"

    def url(self, notebook_id: str) -> str:
        return f"{self.index_url}nb/{quote(notebook_id, safe='')}"

    @property
    def token(self) -> str | None:
        """The token this viewer asks for (None: an open viewer, ``serve --no-auth`` only)."""
        return self._token

    @property
    def cookie_name(self) -> str:
        """``runt_viewer_<port>``: browsers share cookies across ports, servers must not."""
        return f"{COOKIE_PREFIX}{self._server.port}"

    def entry_url(self, notebook_id: str | None = None) -> str:
        """The address to print for a person: the index or a notebook, with a fresh one-time
        code when the viewer has a token (the token itself is never printed)."""
        base = self.index_url if notebook_id is None else self.url(notebook_id)
        if self._token is None:
            return base
        now = monotonic()
        for code, deadline in list(self._codes.items()):
            if deadline <= now:
                del self._codes[code]
        while len(self._codes) >= MAX_CODES:
            del self._codes[next(iter(self._codes))]
        code = new_secret()
        self._codes[code] = now + self._code_ttl
        return f"{base}?{urlencode({'code': code})}"

    # -- state ----------------------------------------------------------------------------

    def _on_push(self, store_id: str, events: Sequence[Event]) -> None:
        notebook = self._notebooks.get(store_id)
        if notebook is not None:  # stores nobody looked at are loaded when first asked for
            notebook.apply(events)
        elif self._index_subscribers:
            self.notebook(store_id)  # a new notebook the index shows (its log has this push)
        for sub in self._index_subscribers:
            sub.wake.set()

    def notebook(self, store_id: str, *, keep: bool = False) -> LiveNotebook:
        """The store's live state, rebuilt from the server's log the first time.

        A store with no events is kept (and fed by pushes) only when ``keep``: while a page
        waits on it. So asking for made-up ids costs nothing that outlives the request.
        """
        notebook = self._notebooks.get(store_id)
        if notebook is None:
            notebook = LiveNotebook(store_id, scrubber=self._scrubber)
            notebook.apply(self._server.events_of(store_id))  # none, and nothing made, if new
            if keep or notebook.state.version:
                self._notebooks[store_id] = notebook
        return notebook

    def _forget_if_empty(self, notebook: LiveNotebook) -> None:
        if not notebook.subscribers and not notebook.state.version:
            self._notebooks.pop(notebook.store_id, None)

    # -- auth ---------------------------------------------------------------------------

    def _session_ok(self, request: web.Request) -> bool:
        given = request.cookies.get(self.cookie_name)
        # Every comparison constant-time; the set is bounded, so the loop is too.
        return bool(given) and any(same_secret(given, known) for known in self._sessions)

    def _redeem(self, request: web.Request) -> bool:
        """Whether the query carries the token or a live code (a code is spent either way)."""
        assert self._token is not None
        ok = False
        for given in request.query.getall("token", ()):
            ok = same_secret(given, self._token) or ok
        now = monotonic()
        for given in request.query.getall("code", ()):
            for code, deadline in list(self._codes.items()):
                if same_secret(given, code):
                    del self._codes[code]
                    ok = ok or deadline > now
        return ok

    def _new_session(self) -> str:
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = new_secret()
        self._sessions[session] = None
        return session

    @staticmethod
    def _without_entry(request: web.Request) -> str:
        """The request's own address, relative, minus ``token`` and ``code``."""
        query = [(k, v) for k, v in request.query.items() if k not in _ENTRY_PARAMS]
        return str(request.rel_url.with_query(query or None))

    def _guard(self, handler: Handler) -> Handler:
        """The server's Host/Origin rule first; then, with a token, a session (the cookie) or
        an entry secret in the query (exchanged for a cookie and a redirect without it)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            refused = self._refused(request)
            if refused is not None:
                return refused
            if self._token is None:
                return await handler(request)
            entering = any(k in request.query for k in _ENTRY_PARAMS)
            if entering and self._redeem(request):
                response = self._see_other(request)
                response.set_cookie(
                    self.cookie_name,
                    self._new_session(),
                    httponly=True,
                    samesite="Strict",
                    path="/",
                )
                return response
            if self._session_ok(request):
                # A spent code (an old link) with a live session: just drop it from the address.
                return self._see_other(request) if entering else await handler(request)
            return web.Response(
                status=401,
                text="401: this viewer needs its token: open the address the run printed, "
                "or this one with ?token=<token>\n",
                headers={**_HEADERS, "WWW-Authenticate": 'Bearer realm="runt viewer"'},
            )

        return guarded

    def _see_other(self, request: web.Request) -> web.Response:
        return web.Response(
            status=303, headers={**_HEADERS, "Location": self._without_entry(request)}
        )

    def _refused(self, request: web.Request) -> web.Response | None:
        """The server's 403 for a Host or Origin it does not answer, or for a subresource
        another site's page asks for (with our headers)."""
        refused = self._server.refusal(request)
        if refused is None and not _fetch_metadata_ok(request):
            refused = web.Response(status=403, text="403: cross-site requests are refused\n")
        if refused is not None:
            refused.headers.update(_HEADERS)
        return refused

    # -- routes -------------------------------------------------------------------------

    def _page(self, template: str, *, status: int = 200, **context: object) -> web.Response:
        html = (
            viewer_environment()
            .get_template(template)
            .render(csp=VIEWER_CSP, css=Markup(stylesheet()), **context)
        )
        # Every string was scrubbed before it was rendered; this catches what was not.
        return web.Response(
            text=self._scrubber.text(html),
            status=status,
            content_type="text/html",
            headers=_HEADERS,
        )

    def _index_rows(self) -> list[tuple[str, str]]:
        """(store id, its table row) for every notebook with events, latest update first."""
        rows = []
        for store_id in self._server.store_ids():
            notebook = self.notebook(store_id)
            if not notebook.state.version:
                continue  # a table with no events
            rendered = notebook.render()
            row = {
                "id": self._scrubber.text(store_id),
                "href": f"/nb/{quote(store_id, safe='')}",
                "title": rendered.title,
                "status": rendered.status,
                "updated": notebook.last_update or "",
                "cells": rendered.count,
            }
            html = viewer_environment().get_template("index_row.html.j2").render(nb=row)
            rows.append((str(row["updated"]), store_id, self._scrubber.text(html)))
        rows.sort(key=lambda r: r[0], reverse=True)
        return [(store_id, html) for _, store_id, html in rows]

    def _index_header(self, count: int) -> str:
        return viewer_environment().get_template("index_header.html.j2").render(count=count)

    def _index_diff(self, sub: Subscriber) -> dict[str, object] | None:
        """What an index page has not seen yet (rows that changed, their order, the count)."""
        rows = self._index_rows()
        message: dict[str, object] = {}
        header = self._index_header(len(rows))
        if header != sub.header:
            message["header"] = sub.header = header
        now = dict(rows)
        changed = {k: v for k, v in now.items() if sub.cells.get(k) != v}
        order = [store_id for store_id, _ in rows]
        if changed:
            message["cells"] = changed
        if changed or order != sub.order:
            message["order"] = order
        sub.order, sub.cells = order, now
        return message or None

    async def _index(self, request: web.Request) -> web.StreamResponse:
        rows = self._index_rows()
        return self._page(
            "index.html.j2",
            rows=[Markup(html) for _, html in rows],
            header=Markup(self._index_header(len(rows))),
        )

    async def _index_live(self, request: web.Request) -> web.StreamResponse:
        """The index page's websocket: its rows pushed as notebooks start and change."""
        sub = Subscriber()
        self._index_subscribers.add(sub)
        try:
            return await self._feed(request, sub, self._index_diff)
        finally:
            self._index_subscribers.discard(sub)

    async def _notebook_page(self, request: web.Request) -> web.StreamResponse:
        """The notebook; a 404 while it has no events, with a page that waits for a run to
        write into it (a run's printed link can be opened before its first push)."""
        store_id = request.match_info["id"]
        notebook = self.notebook(store_id)
        rendered = notebook.render()
        missing = not notebook.state.version
        return self._page(
            "notebook.html.j2",
            status=404 if missing else 200,
            missing=missing,
            rendered=rendered,
            cells=[Markup(rendered.cells[c]) for c in rendered.order],
            header=Markup(rendered.header),
            live=f"/nb/{quote(store_id, safe='')}/live",
        )

    async def _artifact(self, request: web.Request) -> web.StreamResponse:
        return self._server.artifacts.response(request.match_info["artifact_id"])

    async def _script(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return web.Response(
            text=_SCRIPT.read_text(encoding="utf-8"),
            content_type="text/javascript",
            headers=_HEADERS,
        )

    async def _favicon(self, request: web.Request) -> web.StreamResponse:
        """No icon, said with a 204: Chromium asks every page for one, and a 404 would be a
        console error on every page (and unguarded, a route that skipped the Host rule)."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        return web.Response(status=204, headers=_HEADERS)

    async def _live(self, request: web.Request) -> web.StreamResponse:
        notebook = self.notebook(request.match_info["id"], keep=True)
        sub = Subscriber()
        notebook.subscribers.add(sub)
        try:
            return await self._feed(request, sub, notebook.diff)
        finally:
            notebook.subscribers.discard(sub)
            self._forget_if_empty(notebook)

    async def _feed(
        self,
        request: web.Request,
        sub: Subscriber,
        diff: Callable[[Subscriber], Mapping[str, object] | None],
    ) -> web.StreamResponse:
        """Send ``diff(sub)`` whenever ``sub`` is woken, until the page goes away."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        self._sockets.add(ws)
        reader = asyncio.ensure_future(self._drain(ws, sub))
        try:
            while not sub.closed and not ws.closed:
                sub.wake.clear()
                message = diff(sub)
                if message is not None:
                    # Fragments were scrubbed before and after rendering; this covers the rest.
                    await ws.send_str(json.dumps(self._scrubber.deep(dict(message))))
                await sub.wake.wait()
        except ConnectionResetError:
            pass  # the page went away mid-send
        finally:
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
        router.add_get("/live", self._guard(self._index_live))
        router.add_get("/viewer.js", self._script)  # static, no data: needs no session
        router.add_get("/favicon.ico", self._favicon)
        router.add_get("/nb/{id}", self._guard(self._notebook_page))
        router.add_get("/nb/{id}/live", self._guard(self._live))
        # An output sent as an artifact, for the page (the API itself wants the bearer token).
        router.add_get("/nb/{id}/artifacts/{artifact_id:.+}", self._guard(self._artifact))
        app.on_shutdown.append(self._close_sockets)
        self._server.add_push_listener(self._on_push)


def _fetch_metadata_ok(request: web.Request) -> bool:
    """Fetch Metadata resource isolation: a browser says where a request comes from.

    A page on another port of this host is *same-site* (sites ignore ports), so it gets the
    SameSite cookie; a ``no-cors`` fetch sends no Origin header, so the Origin rule cannot see
    it. Its response is opaque to that page, but the viewer need not render it at all: from
    another site or origin only a top-level navigation (a link the person follows) is served.
    Requests without the header (old browsers, non-browser clients) pass.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is None or site in ("same-origin", "none"):
        return True
    return (
        request.headers.get("Sec-Fetch-Mode") == "navigate"
        and request.headers.get("Sec-Fetch-Dest", "document") == "document"
    )


def attach_viewer(
    server: SyncServer,
    *,
    token: str | None = None,
    secrets: Sequence[str] = (),
    code_ttl: float = CODE_TTL,
) -> Viewer:
    """Mount the viewer on ``server`` (call before ``server.start()``).

    ``token``: None (the default) is the server's own (:attr:`SyncServer.token`), so whoever
    may read the stores over the sync protocol may read them here and nobody else; a string
    sets another. Only a server without a token (``serve --no-auth``) has an open viewer.
    ``secrets``: values to mask in every page, as the reports do (an embedded run knows its
    secret parameters; ``serve`` knows none). ``code_ttl``: the life of an entry code.
    """
    viewer = Viewer(server, token=token, secrets=secrets, code_ttl=code_ttl)
    viewer.mount()
    return viewer
