"""Issue 23, remote mode: large outputs go to the runt service's artifact API at the sync
URL's origin (a 127.0.0.1 stand-in following runt-schema §5.5: POST /api/artifacts with the
bearer token and x-notebook-id, GET /api/artifacts/<id>), driven through the CLI; the events
on the (real) sync server carry artifact representations, and the .ipynb the full data."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.standin import StandIn, runt_service

TOKEN = "tok-artifacts-5f4e3d2c1b0a"
NOTEBOOK_ID = "Art1facts_nb"


@pytest.fixture
async def service() -> AsyncIterator[StandIn]:
    async with runt_service(TOKEN, NOTEBOOK_ID, "user-7") as state:
        yield state


NOTEBOOK = """\
cells:
  - id: big
    source: |
      import base64, random
      from IPython.display import display, HTML
      head = b"\\x89PNG\\r\\n\\x1a\\n"
      png = base64.b64encode(head + random.Random(3).randbytes(20_000)).decode()
      display({"image/png": png, "text/plain": "<fig>"}, raw=True)
      display(HTML("<table>" + "<tr><td>cell</td></tr>" * 100_000 + "</table>"))
"""


async def test_a_remote_run_uploads_to_the_services_artifact_api(
    cli: Any, tmp_path: Path, service: StandIn
) -> None:
    notebook = tmp_path / "big.yml"
    notebook.write_text(NOTEBOOK)
    run = await cli(
        tmp_path,
        notebook,
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": service.url},
        limit=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # Both uploads carried the bearer token and the notebook id; the PNG as the image itself.
    assert [(u["authorization"], u["notebook"]) for u in service.uploads] == [
        (f"Bearer {TOKEN}", NOTEBOOK_ID)
    ] * 2
    assert [u["content_type"].split(";")[0] for u in service.uploads] == ["image/png", "text/html"]
    # The sync server holds artifact representations (each event fits a frame)...
    reps = [
        e.args["representations"]
        for e in service.upstream.events_of(NOTEBOOK_ID)
        if e.name == "v1.MultimediaDisplayOutputAdded"
    ]
    assert [r["image/png"]["type"] for r in reps[:1]] == ["artifact"]
    assert reps[1]["text/html"]["artifactId"] in service.blobs
    # ... and the executed notebook has the data back, exactly.
    assert run.ipynb is not None
    outputs = run.ipynb["cells"][0]["outputs"]
    png = "".join(outputs[0]["data"]["image/png"])
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 26_000
    assert "".join(outputs[1]["data"]["text/html"]) == (
        "<table>" + "<tr><td>cell</td></tr>" * 100_000 + "</table>"
    )
    assert TOKEN not in run.stderr
