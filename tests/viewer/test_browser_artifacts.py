"""Issue 23 in a real browser: a run's outputs that travelled as artifacts show on the live
page, loaded from the server through the viewer's cookie-guarded route (Debian's Chromium,
the same launcher as test_browser.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from runt_action.livestore import SyncServer
from runt_action.viewer import attach_viewer
from tests.viewer.test_browser import ARGS, WAIT_MS, chromium

pytestmark = pytest.mark.timeout(240)
TOKEN = "artifact-viewer-token-9"

NOTEBOOK = """\
metadata:
  title: Big outputs live
cells:
  - id: big
    source: |
      import base64, random, struct, zlib
      from IPython.display import display, HTML
      def png(width, height):
          rng = random.Random(5)
          raw = b"".join(b"\\x00" + rng.randbytes(width * 3) for _ in range(height))
          def chunk(kind, data):
              body = kind + data
              return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
          ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
          return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", ihdr)
                  + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
      image = base64.b64encode(png(640, 480)).decode()
      display({"image/png": image, "text/plain": "<f>"}, raw=True)
      rows = "".join(f"<tr><td>row {i}</td></tr>" for i in range(60_000))
      display(HTML(f"<table id='big'>{rows}</table>"))
"""


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    async with chromium(tmp_path / "profile", ARGS, viewport={"width": 1100, "height": 900}) as c:
        yield c


async def test_the_live_page_loads_artifact_outputs_from_the_server(
    browser: Any, tmp_path: Path
) -> None:
    notebook = tmp_path / "big.yml"
    notebook.write_text(NOTEBOOK)
    server = SyncServer(token=TOKEN)
    viewer = attach_viewer(server)
    await server.start()
    try:
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
            str(tmp_path / "out.ipynb"),
            cwd=tmp_path,
            env={**os.environ, "INPUT_AUTH-TOKEN": TOKEN, "GITHUB_ACTIONS": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), WAIT_MS / 1000)
        assert proc.returncode == 0, out.decode()[-3000:]
        reps = [
            e.args["representations"]
            for e in server.events_of("demo")
            if e.name == "v1.MultimediaDisplayOutputAdded"
        ]
        assert [r["image/png"]["type"] for r in reps[:1]] == ["artifact"]
        assert reps[1]["text/html"]["type"] == "artifact"

        page = await browser.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
        await page.goto(viewer.url("demo") + f"?token={TOKEN}")
        image = page.locator("#cell-big img.image")
        await image.wait_for(timeout=WAIT_MS)
        await page.wait_for_function(
            "() => document.querySelector('#cell-big img.image').complete", timeout=WAIT_MS
        )
        size = await image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size == [640, 480]  # decoded by the browser: the image itself came back
        frame = page.frame_locator("#cell-big iframe.html-output")
        await frame.locator("td", has_text="row 59999").wait_for(timeout=WAIT_MS)
        assert "text/html, 1.6 MB" in await page.inner_text("#cell-big")  # type and size
        await page.screenshot(path=str(tmp_path / "viewer-artifacts.png"))
        # A frame the live update replaced while it loaded is aborted; nothing else may fail.
        assert [f for f in failed if not f.endswith("net::ERR_ABORTED")] == []

        # The same route without the viewer's cookie is refused; so is the API without token.
        artifact_id = reps[0]["image/png"]["artifactId"]
        async with aiohttp.ClientSession() as http:
            route = f"{server.http_url}/nb/demo/artifacts/{artifact_id}"
            async with http.get(route, allow_redirects=False) as resp:
                assert resp.status == 401
            async with http.get(f"{server.http_url}/api/artifacts/{artifact_id}") as resp:
                assert resp.status == 401
    finally:
        await server.stop()
