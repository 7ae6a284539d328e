"""The report and the live viewer in a real browser: Debian's headless Chromium via Playwright.

scripts/setup-browser.sh installs the browser (``make test`` runs it). Screenshots go to
``$RUNT_SCREENSHOTS`` when set (else the test's temporary directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runt_action.livestore import SyncServer
from runt_action.report.html import write_html
from runt_action.viewer import attach_viewer

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000  # generous upper bounds for a loaded machine; nothing waits for time to pass

pytestmark = pytest.mark.timeout(240)


def _samples() -> Any:
    """The report tests' sample run (one module, so both test the same content)."""
    path = Path(__file__).parents[1] / "report" / "test_html.py"
    spec = importlib.util.spec_from_file_location("_html_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("RUNT_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextlib.asynccontextmanager
async def chromium(profile: Path, args: list[str], **options: Any) -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright, with a fresh profile (user-data-dir)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup-browser.sh (make test does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=args, **options
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium profile (a new user-data-dir) per test."""
    async with chromium(
        tmp_path / "profile", ARGS, viewport={"width": 1100, "height": 900}
    ) as context:
        yield context


class Watch:
    """Everything a page says went wrong: console errors, page errors, failed requests."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))


# -- (b) the HTML report, offline -------------------------------------------------------


async def test_the_report_opens_offline_without_errors(browser: Any, tmp_path: Path) -> None:
    samples = _samples()
    result = samples.sample_result()
    plot = result.cells[2]
    html_out = plot.outputs[1]
    # A clean table here; the hostile one is the next test's (its blocked script is logged).
    result.cells[2] = replace(
        plot,
        outputs=[
            plot.outputs[0],
            replace(html_out, data={**html_out.data, "text/html": "<table><tr><th>x</th></tr>"
                                    "<tr><td>1</td></tr></table>"}),
        ],
    )  # fmt: skip
    report = tmp_path / "report.html"
    write_html(result, report, secrets=[samples.SECRET])

    page = await browser.new_page()
    watch = Watch(page)
    blocked: list[str] = []

    async def offline(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "about:")):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    await page.route("**/*", offline)
    await page.goto(report.as_uri(), wait_until="load")
    assert blocked == [] and watch.failed == [] and watch.errors == []
    width = await page.eval_on_selector("img.image", "img => img.naturalWidth")
    height = await page.eval_on_selector("img.image", "img => img.naturalHeight")
    assert (width, height) == (40, 20)
    assert await page.inner_text("#first-error") == (
        "First error: cell boom (line 30) raised ValueError: bad"
    )
    assert await page.inner_text("div.html-output td") == "1"  # inline, no frame
    await page.click("#first-error a")
    assert page.url.endswith("#cell-boom")
    await page.screenshot(path=str(_shot_dir(tmp_path) / "report.png"), full_page=True)


async def test_html_output_cannot_script_the_report(browser: Any, tmp_path: Path) -> None:
    samples = _samples()
    report = tmp_path / "report.html"
    write_html(samples.sample_result(), report)  # its table output carries a <script>
    page = await browser.new_page()
    watch = Watch(page)
    await page.goto(report.as_uri(), wait_until="load")
    assert await page.locator("#cell-boom").count() == 1  # the body was not replaced
    assert await page.title() != "pwned"
    # The sanitiser removed the script: nothing even tried to run, and that is said.
    assert watch.errors == [] and watch.failed == []
    assert "removed 1 script" in await page.inner_text("#cell-plot")


# -- (a) the live viewer during a real run ----------------------------------------------


NOTEBOOK = """\
metadata:
  title: Live demo
cells:
  - id: intro
    celltype: markdown
    source: |
      # Live demo
      A cell that prints, then waits for the test.
  - id: fast
    source: |
      print("fast cell done")
  - id: slow
    source: |
      print("line before wait", flush=True)
      with open({fifo!r}) as gate:
          gate.read()
      print("released")
  - id: final
    source: |
      print("all done")
"""


async def _release(fifo: Path) -> None:
    """Open the FIFO for writing (blocks until the cell has it open) and close it."""

    def write() -> None:
        with open(fifo, "w") as gate:
            gate.write("go")

    await asyncio.to_thread(write)


async def test_the_viewer_shows_a_run_live(browser: Any, tmp_path: Path) -> None:
    shots = _shot_dir(tmp_path)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    notebook = tmp_path / "live.yml"
    notebook.write_text(NOTEBOOK.format(fifo=str(fifo)))
    server = SyncServer()
    viewer = attach_viewer(server)
    await server.start()
    log = (tmp_path / "run.log").open("wb")
    proc: asyncio.subprocess.Process | None = None
    released = False
    try:
        page = await browser.new_page()
        watch = Watch(page)
        # The page is open before the run writes anything: every cell has to arrive live.
        await page.goto(viewer.url("demo"))
        await page.wait_for_selector("#live-state.connected", timeout=WAIT_MS)
        assert await page.locator("#cells section").count() == 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runt_action",
            "run",
            str(notebook),
            "--runtime",
            "python",
            "--sync-url",
            server.url,
            "--notebook-id",
            "demo",
            "--output",
            str(tmp_path / "out" / "live.ipynb"),
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        # The streamed line shows while its cell still runs (it waits on the FIFO).
        await page.wait_for_selector(
            '#cell-slow .out.stream:has-text("line before wait")', timeout=WAIT_MS
        )
        assert await page.inner_text("#cell-slow .badge") == "▶ running"
        assert await page.inner_text("#cell-fast .badge") == "✓ success"
        assert "released" not in await page.inner_text("#cell-slow .outputs")
        assert await page.locator("#cell-final .badge").inner_text() in ("○ not run", "… queued")
        assert await page.inner_text("#nb-header h1") == "Live demo"
        await page.screenshot(path=str(shots / "viewer-live-running.png"), full_page=True)

        await _release(fifo)
        released = True
        assert await asyncio.wait_for(proc.wait(), WAIT_MS / 1000) == 0
        await page.wait_for_selector("#nb-header .badge.success", timeout=WAIT_MS)
        for cell in ("fast", "slow", "final"):
            assert await page.inner_text(f"#cell-{cell} .badge") == "✓ success"
        assert "released" in await page.inner_text("#cell-slow .outputs")
        assert "all done" in await page.inner_text("#cell-final .outputs")
        order = await page.eval_on_selector_all(
            "#cells > section", "nodes => nodes.map(n => n.dataset.cellId)"
        )
        assert order[:1] == ["intro"] and order[-3:] == ["fast", "slow", "final"]
        await page.screenshot(path=str(shots / "viewer-live-done.png"), full_page=True)
        # The one complaint: the page was a 404 when it opened (no notebook "demo" yet).
        assert watch.errors == [
            "Failed to load resource: the server responded with a status of 404 (Not Found)"
        ]
        assert watch.failed == []

        index = await browser.new_page()
        await index.goto(viewer.index_url)
        row = index.locator("table.notebooks tr", has_text="Live demo")
        assert await row.locator(".badge").inner_text() == "✓ success"
        await index.screenshot(path=str(shots / "viewer-index.png"), full_page=True)
    finally:
        if not released:
            with contextlib.suppress(OSError):  # unblock the cell if it is waiting
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
        await server.stop()


# -- (c) the token ----------------------------------------------------------------------


async def test_the_viewer_needs_its_token_in_the_browser(browser: Any, tmp_path: Path) -> None:
    shots = _shot_dir(tmp_path)
    token = "browser-token-42"
    server = SyncServer()
    viewer = attach_viewer(server, token=token)
    await server.start()
    try:
        page = await browser.new_page()
        response = await page.goto(viewer.url("demo"))
        assert response is not None and response.status == 401
        assert "needs its token" in await page.inner_text("body")
        await page.screenshot(path=str(shots / "viewer-401.png"))

        response = await page.goto(viewer.url("demo") + f"?token={token}")
        assert response is not None and response.status == 404  # in; "demo" has no events yet
        assert page.url == viewer.url("demo")  # the token left the address bar
        await page.wait_for_selector("#live-state.connected", timeout=WAIT_MS)
        assert token not in await page.content()
        cookies = await browser.cookies()
        assert [c["httpOnly"] for c in cookies] == [True]
        assert token not in cookies[0]["value"]
        await page.goto(viewer.index_url)  # the cookie now opens every page
        assert await page.inner_text("h1") == "Notebooks"
        await page.screenshot(path=str(shots / "viewer-token-index.png"))
    finally:
        await server.stop()
