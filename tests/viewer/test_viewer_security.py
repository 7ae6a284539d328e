"""The viewer as an attacker sees it (issue #20): sessions, entry codes, Host and Origin,
framing, made-up notebook ids, and secrets that escaping used to hide from the masker."""

from __future__ import annotations

import html
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import markupsafe
import pytest
from viewer_helpers import FAST, cell_events, commit_all, run_events

import runt_action.viewer.app as viewer_app
from runt_action.livestore import SyncServer, connect_store
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookMaterializer
from runt_action.viewer import Viewer, attach_viewer

TOKEN = "srv-token-0123456789"
MARKER = "event-data-marker-7f3a"  # printed by the seeded notebook's cell


async def seed(server: SyncServer, store_id: str = "nbA") -> None:
    store = await connect_store(
        server.url, store_id, {"authToken": server.token} if server.token else {},
        NotebookMaterializer(), client_id="w", session_id="w1", timeouts=FAST,
    )  # fmt: skip
    async with store:
        events: list[Any] = [ev.NotebookInitialized(id=store_id, title="Seeded", ownerId="me")]
        events += cell_events("c1", "a1", "print('x')")
        events += run_events("c1", "q1", f"{MARKER}\n")
        await commit_all(store, events)


@pytest.fixture
async def tokened() -> AsyncIterator[tuple[SyncServer, Viewer]]:
    """A server with a token and the viewer on it, token not passed: the server's own."""
    server = SyncServer(token=TOKEN)
    viewer = attach_viewer(server)
    await server.start()
    try:
        await seed(server)
        yield server, viewer
    finally:
        await server.stop()


def browser_like() -> aiohttp.ClientSession:
    """A client that keeps cookies for an IP host and does not follow redirects by itself."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    async with session.get(url, allow_redirects=False) as resp:
        return resp


def ws_url(viewer: Viewer, store_id: str) -> str:
    return viewer.url(store_id).replace("http://", "ws://") + "/live"


# -- 1. who gets in -------------------------------------------------------------------


async def test_the_viewer_asks_for_the_servers_own_token(
    tokened: tuple[SyncServer, Viewer],
) -> None:
    server, viewer = tokened
    assert viewer.token == server.token == TOKEN
    async with browser_like() as http:
        for url in (viewer.index_url, viewer.url("nbA")):
            async with http.get(url) as resp:
                assert resp.status == 401 and MARKER not in await resp.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(viewer, "nbA"))
        assert refused.value.status == 401
        resp = await log_in(http, viewer.url("nbA") + f"?token={TOKEN}")
        assert resp.status == 303 and resp.headers["Location"] == "/nb/nbA"
        async with http.get(viewer.url("nbA")) as resp:
            assert resp.status == 200 and MARKER in await resp.text()


async def test_an_open_viewer_is_only_a_server_without_a_token(
    http: aiohttp.ClientSession,
) -> None:
    server = SyncServer()  # serve --no-auth
    viewer = attach_viewer(server)
    await server.start()
    try:
        assert viewer.token is None
        assert viewer.entry_url("nbA") == viewer.url("nbA")  # nothing to enter with
        async with http.get(viewer.index_url) as resp:
            assert resp.status == 200
    finally:
        await server.stop()


async def test_the_cookie_is_a_random_session_named_after_the_port() -> None:
    """Cookies ignore ports: a fixed cookie per token opened every server of that token."""
    servers = [SyncServer(token=TOKEN), SyncServer(token=TOKEN)]
    viewers = [attach_viewer(s) for s in servers]
    for server in servers:
        await server.start()
    try:
        issued: list[tuple[str, str]] = []
        for viewer in viewers * 2:  # two log-ins on each
            async with browser_like() as http:
                resp = await log_in(http, viewer.index_url + f"?token={TOKEN}")
                assert resp.status == 303
                cookie = resp.cookies[viewer.cookie_name]
                assert cookie["httponly"] and cookie["samesite"] == "Strict"
                assert cookie["path"] == "/"
                issued.append((viewer.cookie_name, cookie.value))
        names = [n for n, _ in issued]
        assert names[0] == f"runt_viewer_{servers[0].port}" != names[1]
        values = [v for _, v in issued]
        assert len(set(values)) == 4  # never a function of the token
        assert all(TOKEN not in v and len(v) >= 40 for v in values)

        # Server 0's session, presented to server 1 under server 1's name: refused.
        stolen = values[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(
                viewers[1].index_url, headers={"Cookie": f"{names[1]}={stolen}"}
            ) as resp:
                assert resp.status == 401
            async with http.get(
                viewers[0].index_url, headers={"Cookie": f"{names[0]}={stolen}"}
            ) as resp:
                assert resp.status == 200
    finally:
        for server in servers:
            await server.stop()


@pytest.mark.parametrize(
    "query",
    ["token=p%C3%A4ss", "token=%FF%FE", "token=%ED%A0%80", "code=%C3%BC", "token=", "code="],
)
async def test_odd_entry_secrets_are_refused_not_crashed(query: str) -> None:
    """A non-ASCII ``?token=`` was a 500 (hmac.compare_digest refuses non-ASCII str)."""
    server = SyncServer()
    viewer = attach_viewer(server, token=TOKEN)  # a token of its own: still possible
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = viewer.index_url + "?" + query
            async with http.get(yarl_raw(url), allow_redirects=False) as resp:
                assert resp.status == 401
            async with http.get(
                viewer.index_url, headers={"Cookie": f"runt_viewer_{server.port}=p\xe4ss"}
            ) as resp:
                assert resp.status == 401
    finally:
        await server.stop()


def yarl_raw(url: str) -> Any:
    import yarl

    return yarl.URL(url, encoded=True)


async def test_a_non_ascii_token_works() -> None:
    token = 'tök"en&ünïcode'
    server = SyncServer(token=token)
    viewer = attach_viewer(server)
    await server.start()
    try:
        async with browser_like() as http:
            resp = await log_in(http, viewer.index_url + "?token=" + quote(token, safe=""))
            assert resp.status == 303 and resp.headers["Location"] == "/"
            async with http.get(viewer.index_url) as resp:
                assert resp.status == 200
    finally:
        await server.stop()


async def test_an_entry_code_works_once_and_only_for_a_while(
    tokened: tuple[SyncServer, Viewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, viewer = tokened
    entry = viewer.entry_url("nbA")
    assert entry.startswith(viewer.url("nbA") + "?code=") and TOKEN not in entry
    assert viewer.entry_url().startswith(viewer.index_url + "?code=")
    async with browser_like() as http:
        resp = await log_in(http, entry + "&view=1")
        assert resp.status == 303 and resp.headers["Location"] == "/nb/nbA?view=1"
        async with http.get(viewer.url("nbA")) as page:
            assert page.status == 200
        # The spent code on an open session: only dropped from the address.
        resp = await log_in(http, entry)
        assert resp.status == 303 and resp.headers["Location"] == "/nb/nbA"
        assert viewer.cookie_name not in resp.cookies
    async with browser_like() as other:  # the same link in another browser: spent
        assert (await log_in(other, entry)).status == 401

    late = viewer.entry_url("nbA")
    now = time.monotonic()  # the clock the viewer reads
    monkeypatch.setattr(viewer_app, "monotonic", lambda: now + viewer_app.CODE_TTL + 1)
    async with browser_like() as http:
        assert (await log_in(http, late)).status == 401


async def test_sessions_and_codes_are_bounded(
    tokened: tuple[SyncServer, Viewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, viewer = tokened
    monkeypatch.setattr(viewer_app, "MAX_SESSIONS", 2)
    monkeypatch.setattr(viewer_app, "MAX_CODES", 2)
    cookies = []
    for _ in range(3):
        async with browser_like() as http:
            resp = await log_in(http, viewer.index_url + f"?token={TOKEN}")
            cookies.append(resp.cookies[viewer.cookie_name].value)
    async with aiohttp.ClientSession() as http:
        statuses = []
        for value in cookies:
            async with http.get(
                viewer.index_url, headers={"Cookie": f"{viewer.cookie_name}={value}"}
            ) as resp:
                statuses.append(resp.status)
    assert statuses == [401, 200, 200]  # the oldest session was forgotten
    codes = [viewer.entry_url() for _ in range(3)]
    async with browser_like() as http:
        assert [(await log_in(http, c)).status for c in codes] == [401, 303, 303]


# -- 2. Host, Origin and framing --------------------------------------------------------


async def test_a_foreign_host_is_refused_on_every_route(
    tokened: tuple[SyncServer, Viewer],
) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1."""
    server, viewer = tokened
    async with browser_like() as http:
        await log_in(http, viewer.index_url + f"?token={TOKEN}")  # even with a session
        for path in ("/", "/nb/nbA", f"/nb/nbA?token={TOKEN}", "/viewer.js"):
            async with http.get(
                viewer.index_url[:-1] + path, headers={"Host": f"evil.example:{server.port}"}
            ) as resp:
                body = await resp.text()
                assert resp.status == 403, path
                assert "nbA" not in body and MARKER not in body
                assert resp.headers["X-Frame-Options"] == "DENY"
                assert viewer.cookie_name not in resp.cookies
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(viewer, "nbA"), headers={"Host": "evil.example"})
        assert refused.value.status == 403


async def test_an_open_viewer_still_refuses_a_foreign_host(http: aiohttp.ClientSession) -> None:
    """``GET /`` with ``Host: evil.example`` listed the store ids."""
    server = SyncServer()
    viewer = attach_viewer(server)
    await server.start()
    try:
        await seed(server)
        async with http.get(viewer.index_url, headers={"Host": "evil.example"}) as resp:
            assert resp.status == 403 and "nbA" not in await resp.text()
        async with http.get(viewer.index_url) as resp:
            assert resp.status == 200 and "nbA" in await resp.text()
    finally:
        await server.stop()


async def test_a_cross_origin_live_socket_is_refused_before_the_upgrade(
    tokened: tuple[SyncServer, Viewer],
) -> None:
    """A page on another port of the same host is same-site: it gets the cookie."""
    server, viewer = tokened
    own = f"http://127.0.0.1:{server.port}"
    async with browser_like() as http:
        await log_in(http, viewer.index_url + f"?token={TOKEN}")
        for origin in ("http://127.0.0.1:1", "http://localhost:" + str(server.port), "null"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(viewer, "nbA"), origin=origin)
            assert refused.value.status == 403, origin
            async with http.get(viewer.url("nbA"), headers={"Origin": origin}) as resp:
                assert resp.status == 403 and MARKER not in await resp.text()
        async with http.ws_connect(ws_url(viewer, "nbA"), origin=own) as ws:
            assert MARKER in (await ws.receive(timeout=10)).data


@pytest.mark.parametrize(
    ("site", "mode", "dest", "status"),
    [
        ("same-site", "no-cors", "empty", 403),  # fetch(..., {mode: "no-cors"}): no Origin
        ("cross-site", "no-cors", "script", 403),  # <script src>
        ("same-site", "navigate", "iframe", 403),  # <iframe src>
        ("same-site", "navigate", "document", 200),  # a link the person follows
        ("none", "navigate", "document", 200),  # typed or pasted
        ("same-origin", "cors", "empty", 200),  # the viewer's own script
    ],
)
async def test_other_sites_subresources_are_refused(
    tokened: tuple[SyncServer, Viewer], site: str, mode: str, dest: str, status: int
) -> None:
    """A ``no-cors`` request carries the same-site cookie and no Origin: Fetch Metadata
    says where it comes from."""
    _, viewer = tokened
    headers = {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}
    async with browser_like() as http:
        await log_in(http, viewer.index_url + f"?token={TOKEN}")
        async with http.get(viewer.url("nbA"), headers=headers) as resp:
            assert resp.status == status
            assert (MARKER in await resp.text()) == (status == 200)


async def test_no_page_may_frame_the_viewer(tokened: tuple[SyncServer, Viewer]) -> None:
    _, viewer = tokened
    async with browser_like() as http:
        responses = [await log_in(http, viewer.index_url)]  # 401
        responses.append(await log_in(http, viewer.index_url + f"?token={TOKEN}"))  # 303
        for url in (viewer.index_url, viewer.url("nbA"), viewer.url("nope")):  # 200, 200, 404
            async with http.get(url) as resp:
                responses.append(resp)
                page = await resp.text()
                # frame-ancestors in a <meta> policy is ignored, with a console error.
                assert "frame-ancestors" not in page
        async with http.get(viewer.index_url, headers={"Origin": "http://x.test"}) as resp:
            responses.append(resp)  # 403
        async with http.get(viewer.index_url + "viewer.js") as resp:
            responses.append(resp)
    assert [r.status for r in responses] == [401, 303, 200, 200, 404, 403, 200]
    for resp in responses:
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


# -- 3. made-up notebook ids ------------------------------------------------------------


async def test_an_unknown_notebook_is_a_404_that_leaves_nothing_behind(
    tokened: tuple[SyncServer, Viewer],
) -> None:
    server, viewer = tokened
    before = server.store_ids()
    async with browser_like() as http:
        await log_in(http, viewer.index_url + f"?token={TOKEN}")
        for made_up in ("zz-made-up", "a" * 200, "ä/<x>"):
            async with http.get(viewer.url(made_up)) as resp:
                assert resp.status == 404
                assert "No notebook with this id" in await resp.text()
            async with http.ws_connect(ws_url(viewer, made_up)) as ws:
                first = json.loads((await ws.receive(timeout=10)).data)
                assert "header" in first and not first.get("cells")  # waiting: nothing yet
        async with http.get(viewer.index_url) as resp:
            assert "zz-made-up" not in await resp.text()
    assert server.store_ids() == before == ["nbA"]
    assert set(viewer._notebooks) <= {"nbA"}


async def test_a_waiting_page_is_fed_by_the_first_push(
    tokened: tuple[SyncServer, Viewer],
) -> None:
    server, viewer = tokened
    async with browser_like() as http:
        await log_in(http, viewer.index_url + f"?token={TOKEN}")
        async with http.ws_connect(ws_url(viewer, "later")) as ws:
            assert not json.loads((await ws.receive(timeout=10)).data).get("cells")
            await seed(server, "later")
            seen = ""
            while MARKER not in seen:
                seen += (await ws.receive(timeout=10)).data
        async with http.get(viewer.url("later")) as resp:
            assert resp.status == 200


# -- 4. secrets that escaping used to hide ----------------------------------------------

SECRETS = ["pä\"ss<&'wörd", "plain-secret-42", '"quoted"&<b>', "it's-mine!"]


def spellings(secret: str) -> set[str]:
    """Every spelling a secret could take on its way into a page or a JSON message."""
    found = {
        secret,
        html.escape(secret),  # &quot; &#x27;
        html.escape(secret, quote=False),
        str(markupsafe.escape(secret)),  # &#34; &#39;
        secret.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;"),  # markdown
        secret.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        .replace("'", "&#39;"),  # Pygments
        quote(secret),
    }  # fmt: skip
    for text in list(found):
        found.add(json.dumps(text)[1:-1])
        found.add(json.dumps(text, ensure_ascii=False)[1:-1])
        found.add(html.escape(text))  # inside a srcdoc attribute: escaped twice
    return found


def leaks(text: str) -> list[str]:
    pieces = [s for secret in SECRETS for s in spellings(secret)]
    pieces += ["wörd", "w\\u00f6rd", "w&#246;rd", "quoted&quot;", "quoted&#34;", "it&#39;s"]
    return [p for p in pieces if p in text]


def secret_events(store_id: str) -> list[Any]:
    s0, s1, s2, s3 = SECRETS
    events: list[Any] = [ev.NotebookInitialized(id=store_id, title=s0, ownerId="me")]
    events += cell_events("md", "a0", f"# {s0}\n\nand *{s2}* and `{s3}` and {s1}", "markdown")
    events += cell_events("c1", "a1", f"# {s0}\nx = '''{s2}'''  # {s3}")
    events += run_events("c1", "q1", f"the token is {s0} / {s1}\n")
    events += [
        ev.MultimediaDisplayOutputAdded(
            id="d1",
            cellId="c1",
            position=1,
            representations={
                "text/html": ev.InlineMedia(data=f"<p title='{s0}'>{s2}</p>"),
                "text/plain": ev.InlineMedia(data=s0),
            },
        ),
        ev.MarkdownOutputAdded(
            id="m1", cellId="c1", position=2, content=ev.InlineMedia(data=f"**{s0}** {s3}")
        ),
        ev.ErrorOutputAdded(
            id="e1",
            cellId="c1",
            position=3,
            content=ev.InlineMedia(
                data={"ename": "ValueError", "evalue": s0, "traceback": [f"line {s2}", s3]}
            ),
        ),
    ]
    return events


async def test_secrets_with_quotes_markup_and_umlauts_never_show(
    http: aiohttp.ClientSession,
) -> None:
    """The page rendered cells and then masked them; markdown's ``&quot;`` with a raw ``'``
    (and other spellings) slipped through. Now the cells are scrubbed before rendering."""
    server = SyncServer()
    viewer = attach_viewer(server, secrets=SECRETS)
    await server.start()
    try:
        async with http.ws_connect(ws_url(viewer, "nbS")) as ws:  # open before the run
            assert leaks((await ws.receive(timeout=10)).data) == []
            store = await connect_store(
                server.url, "nbS", {}, NotebookMaterializer(), client_id="a",
                session_id="b", timeouts=FAST,
            )  # fmt: skip
            async with store:
                await commit_all(store, secret_events("nbS"))
            messages: list[str] = []
            while "out error" not in "".join(messages):  # until the last output is in
                messages.append((await ws.receive(timeout=10)).data)
        async with http.ws_connect(ws_url(viewer, "nbS")) as ws:  # a page opened after
            messages.append((await ws.receive(timeout=10)).data)
        pages = []
        for url in (viewer.index_url, viewer.url("nbS")):
            async with http.get(url) as resp:
                pages.append(await resp.text())
        for text in messages + pages:
            assert leaks(text) == []
        assert "***" in pages[1] and "out error" in pages[1] and "***" in messages[-1]
    finally:
        await server.stop()


def test_spellings_cover_what_the_page_used_to_show() -> None:
    """The check above is not vacuous: it knows the spelling that leaked."""
    assert leaks("<h1>pä&quot;ss&lt;&amp;'wörd</h1>")
    assert leaks(json.dumps("<h1>pä&quot;ss&lt;&amp;'wörd</h1>"))
