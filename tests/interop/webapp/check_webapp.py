"""Issue 23: the runt web app's own output code shows artifact outputs from our server.

Opt-in (``scripts/check-webapp.sh``; not collected by ``pytest tests``, the name is not
``test_*``): anode's source is not on a registry these machines reach, its install and build
take 3-5 minutes cold, and CI has no room for that. The script builds ``main.tsx`` here
against an anode checkout: anode's LiveStore web adapter and sync worker, its schema and
materializers and its ``MaybeCellOutputs`` component, in Debian's Chromium. The page is served
by our :class:`SyncServer` itself (as anode's worker serves its UI), so the relative
``/api/artifacts/<id>`` the web app builds for an artifact reaches our server.

A notebook runs through our CLI (native kernel): its PNG travels as an artifact with the
text/plain and text/markdown fallbacks our agent adds like upstream's, and the web app shows the
markdown one (it prefers text/markdown to image/png), an ``<img>`` of the absolute URL. A
second output, an artifact image alone, is shown by ``ImageOutput`` from the relative URL.
Both are plain ``<img>`` loads: no bearer header, no cookie of ours, no query token, so the
server needs ``public_artifact_reads`` (bearer-only, both answer 401). A 600 KB HTML table,
rendered in anode's output iframe, shows as our markdown fallback: a link that opens it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.artifacts import ArtifactUploader, Blob
from runt_action.livestore import SyncServer
from runt_action.livestore.store import connect_store
from runt_action.schema.events import ArtifactMedia, CellCreated2, MultimediaDisplayOutputAdded
from runt_action.schema.fractional import key_between
from runt_action.schema.state import NotebookMaterializer
from runt_action.timeouts import Timeouts
from tests.viewer.test_browser import ARGS, WAIT_MS, chromium

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
DIST = Path(
    os.environ.get(
        "RUNT_WEBAPP_DIST", ROOT / ".cache" / "webapp" / "anode" / ".runt-check" / "dist"
    )
)
TOKEN = "webapp-check-token-7"
STORE = "webcheck"

NOTEBOOK = """\
metadata:
  title: Artifacts in the runt web app
cells:
  - id: plot
    source: |
      import base64, random, struct, zlib
      from IPython.display import display
      def png(width, height):
          rng = random.Random(3)
          raw = b"".join(b"\\x00" + rng.randbytes(width * 3) for _ in range(height))
          def chunk(kind, data):
              body = kind + data
              return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
          ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
          return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", ihdr)
                  + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
      display({"image/png": base64.b64encode(png(400, 300)).decode(),
               "text/plain": "<Figure 400x300>"}, raw=True)
  - id: table
    source: |
      from IPython.display import HTML, display
      rows = "".join(f"<tr><td>row {i}</td></tr>" for i in range(20_000))
      display(HTML(f"<table id='big'>{rows}</table>"))
"""


def _png(width: int, height: int) -> bytes:
    rng = random.Random(11)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _dist() -> Path:
    if not (DIST / "index.html").is_file():
        pytest.fail(
            f"the web app check is not built ({DIST}/index.html is missing): run "
            "ANODE_DIR=<anode checkout> scripts/check-webapp.sh"
        )
    return DIST


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("RUNT_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    async with chromium(tmp_path / "profile", ARGS, viewport={"width": 1000, "height": 900}) as c:
        yield c


async def _run_notebook(server: SyncServer, tmp_path: Path) -> None:
    notebook = tmp_path / "artifacts.yml"
    notebook.write_text(NOTEBOOK)
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
        STORE,
        "--output",
        str(tmp_path / "out.ipynb"),
        cwd=tmp_path,
        env={**os.environ, "INPUT_AUTH-TOKEN": TOKEN, "GITHUB_ACTIONS": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT_MS / 1000)
    assert proc.returncode == 0, out.decode()[-3000:]


async def _commit_bare_artifact(server: SyncServer) -> str:
    """A cell whose one output is an artifact image with no text fallbacks: the web app's
    ``ImageOutput`` path. Uploaded by our uploader, committed by our Store."""
    uploader = ArtifactUploader(server.http_url, STORE, TOKEN)
    try:
        blob = Blob("image/png", base64.b64encode(_png(200, 150)).decode())
        artifact_id = await uploader.upload(blob)
    finally:
        await uploader.close()
    keys = [
        str(e.args["fractionalIndex"])
        for e in server.events_of(STORE)
        if e.name == "v2.CellCreated" and e.args is not None
    ]
    store = await connect_store(
        server.url,
        STORE,
        {"authToken": TOKEN},
        NotebookMaterializer(),
        client_id="webcheck-client",
        session_id="webcheck-session",
        timeouts=Timeouts(connect=10, request=10),
    )
    async with store:
        cell = CellCreated2(
            id="bare",
            fractionalIndex=key_between(max(keys, default=None), None),
            cellType="code",
            createdBy="webcheck",
        )
        output = MultimediaDisplayOutputAdded(
            id="bare-output",
            cellId="bare",
            position=0,
            representations={
                "image/png": ArtifactMedia(
                    artifactId=artifact_id, metadata={"originalSizeBytes": blob.size}
                )
            },
        )
        store.commit(*cell.wire())
        store.commit(*output.wire())
        await store.flush(30.0)
    return artifact_id


async def _image(page: Any, cell: str) -> tuple[str, list[int]]:
    """The ``src`` of the cell's image once the browser is done with it, and its decoded size
    ([0, 0] when the load failed)."""
    selector = f'section[data-cell-id="{cell}"] img'
    await page.locator(selector).wait_for(timeout=WAIT_MS)
    await page.wait_for_function(
        f"() => document.querySelector('{selector}').complete", timeout=WAIT_MS
    )
    found = await page.eval_on_selector(
        selector, "img => [img.getAttribute('src'), img.naturalWidth, img.naturalHeight]"
    )
    return str(found[0]), [int(found[1]), int(found[2])]


async def test_the_runt_web_app_shows_artifact_outputs_from_our_server(
    browser: Any, tmp_path: Path
) -> None:
    dist = _dist()
    server = SyncServer(token=TOKEN, public_artifact_reads=True)
    server.app.router.add_static("/webapp/", dist)
    await server.start()
    try:
        await _run_notebook(server, tmp_path)
        reps, table = [
            e.args["representations"]
            for e in server.events_of(STORE)
            if e.name == "v1.MultimediaDisplayOutputAdded" and e.args is not None
        ]
        assert reps["image/png"]["type"] == "artifact"
        plot_id = reps["image/png"]["artifactId"]
        assert reps["text/markdown"]["data"].endswith(f"/api/artifacts/{plot_id})")
        assert table["text/html"]["type"] == "artifact"
        table_url = f"{server.http_url}/api/artifacts/{table['text/html']['artifactId']}"
        bare_id = await _commit_bare_artifact(server)

        page = await browser.new_page()
        answers: dict[str, int] = {}
        page.on("response", lambda r: answers.__setitem__(r.url, r.status))
        await page.goto(f"{server.http_url}/webapp/index.html?store={STORE}#token={TOKEN}")
        plot_src, plot_size = await _image(page, "plot")
        bare_src, bare_size = await _image(page, "bare")
        await page.screenshot(path=str(_shots(tmp_path) / "webapp-artifacts.png"), full_page=True)

        # MarkdownRenderer: the fallback's absolute URL (the sync URL's origin, as upstream).
        assert plot_src == f"{server.http_url}/api/artifacts/{plot_id}"
        # ImageOutput: the URL the web app builds itself, relative to its own origin.
        assert bare_src == f"/api/artifacts/{bare_id}"
        assert (plot_size, bare_size) == ([400, 300], [200, 150]), answers
        assert answers[f"{server.http_url}/api/artifacts/{bare_id}"] == 200

        # HTML (unsafe: anode's output iframe) has no artifact path of its own in the web app:
        # it prefers our text/markdown fallback, the URL, which it shows as a link.
        frame = page.frame_locator('section[data-cell-id="table"] iframe')
        link = frame.locator(f'a[href="{table_url}"]')
        await link.wait_for(timeout=WAIT_MS)
        assert await link.get_attribute("target") == "_blank"
        opened = await browser.new_page()
        answer = await opened.goto(table_url)  # what the click opens: the table itself
        assert answer is not None and answer.status == 200
        await opened.get_by_text("row 19999").wait_for(timeout=WAIT_MS)
    finally:
        await server.stop()
