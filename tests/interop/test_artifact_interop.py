"""Issue 23: an output our agent sends as an artifact is what the runt web app's schema takes.

The sink (real, with the real uploader against our own server) produces the event; Python
commits it to the real sync-cf under wrangler; the real LiveStore JS client decodes it with
anode's Media schema (``{type: "artifact", artifactId, metadata}``, tests/interop/
runt-schema.mjs) and materializes the row as anode does: primary MIME type chosen, data ""
for an artifact, the whole representation record kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from runt_action.agents.artifacts import ArtifactUploader
from runt_action.agents.sink import EventSink
from runt_action.livestore.server import SyncServer
from runt_action.livestore.store import connect_store
from runt_action.schema.events import CellCreated2, RuntEvent
from runt_action.schema.fractional import key_between
from runt_action.schema.state import NotebookMaterializer
from runt_action.timeouts import Timeouts

pytestmark = pytest.mark.interop

TOKEN = "test-token"
WAIT = 30.0


async def _artifact_event() -> tuple[RuntEvent, bytes]:
    """The event our sink makes for a 2 MB HTML output, uploaded to a real server of ours."""
    server = SyncServer(token="blob-token")
    await server.start()
    uploader = ArtifactUploader(server.http_url, "nb", "blob-token")
    events: list[RuntEvent] = []
    try:
        sink = EventSink(
            events.append, cell_id="py-a", execution_count=1, cleared_by="x", uploader=uploader
        )
        sink.display({"text/html": "<b>big</b>" * 200_000, "text/plain": "<HTML>"})
        await sink.drained()
        [event] = events
        artifact_id = event.wire()[1]["representations"]["text/html"]["artifactId"]
        blob = server.artifacts.read(artifact_id)
        assert blob is not None
        return event, blob
    finally:
        await uploader.close()
        await server.stop()


async def test_the_runt_schema_takes_an_artifact_output(
    wrangler: Any, store_id: str, js_client: Any
) -> None:
    event, blob = await _artifact_event()
    assert blob == ("<b>big</b>" * 200_000).encode()
    store = await connect_store(
        wrangler.url,
        store_id,
        {"authToken": TOKEN},
        NotebookMaterializer(),
        client_id="py-client",
        session_id="py-session",
        timeouts=Timeouts(connect=10, request=10),
    )
    async with store:
        cell = CellCreated2(
            id="py-a", fractionalIndex=key_between(None, None), cellType="code", createdBy="t"
        )
        store.commit(*cell.wire())
        store.commit(*event.wire())
        await store.flush(WAIT)
        js = await js_client(wrangler.url, store_id, wait_cells=1, wait_outputs=1)
        tables = await js.next_message("tables")
        assert await js.finish() == 0
    [row] = tables["outputs"]
    sent = event.wire()[1]
    assert (row["outputType"], row["mimeType"], row["data"]) == (
        "multimedia_display",
        "text/html",
        "",
    )
    html = row["representations"]["text/html"]
    assert html["type"] == "artifact"
    assert html["artifactId"] == sent["representations"]["text/html"]["artifactId"]
    assert html["metadata"]["originalSizeBytes"] == len(blob)
    assert row["representations"]["text/plain"] == {"type": "inline", "data": "<HTML>"}
    # Python's materialized row agrees (representations kept, data "" for the artifact).
    [py_row] = store.state.outputs.values()
    assert (py_row.mime_type, py_row.data) == ("text/html", "")
