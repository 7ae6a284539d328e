"""orchestrator.artifacts: outputs built from the store name their artifacts; one step puts
the values back (from a real server's store), drops the agent's fallbacks, and says so on
the cell when an artifact cannot be read."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runt_action.agents.artifacts import ArtifactUploader
from runt_action.agents.sink import EventSink
from runt_action.livestore.server import SyncServer
from runt_action.orchestrator.artifacts import ArtifactReader, resolve_artifacts
from runt_action.orchestrator.outputs import output_from_event
from runt_action.results import CellOutput, CellResult, CellStatus

TOKEN = "resolver-token"


@pytest.fixture
async def server() -> AsyncIterator[SyncServer]:
    srv = SyncServer(token=TOKEN)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _outputs(server: SyncServer, *bundles: dict[str, Any]) -> list[CellOutput]:
    """What the sink sends for ``bundles``, read back the way the runner reads outputs."""
    uploader = ArtifactUploader(server.http_url, "nb", TOKEN)
    events: list[Any] = []
    try:
        sink = EventSink(
            events.append, cell_id="c", execution_count=1, cleared_by="x", uploader=uploader
        )
        for bundle in bundles:
            sink.display(bundle)
        await sink.drained()
    finally:
        await uploader.close()
    found = [output_from_event(*e.wire()) for e in events]
    return [f[1] for f in found if f is not None]


def _cell(outputs: list[CellOutput]) -> CellResult:
    return CellResult(
        id="c", cell_type="code", source="", status=CellStatus.SUCCESS, outputs=outputs
    )


async def test_outputs_name_their_artifacts_with_a_sized_placeholder(server: SyncServer) -> None:
    [out] = await _outputs(server, {"text/html": "x" * 2_000_000})
    ref = out.artifacts["text/html"]
    assert ref["artifactId"].startswith("nb/")
    assert ref["metadata"]["originalSizeBytes"] == 2_000_000
    assert out.data["text/html"] == f"[text/html artifact, 2.0 MB: {ref['artifactId']}]"
    assert out.artifacts["text/plain"] == {"fallback": True}  # the agent added it


async def test_resolving_restores_values_and_drops_the_fallbacks(server: SyncServer) -> None:
    png = base64.b64encode(os.urandom(50_000)).decode()
    outputs = await _outputs(
        server,
        {"image/png": png},
        {"application/json": {"a": [1.0, 2.5]}, "text/plain": "<json>"},
        {"text/plain": "small"},
    )
    cell = _cell(outputs)
    await resolve_artifacts([cell], ArtifactReader(local=server.artifacts))
    first, second, third = cell.outputs
    assert first.data == {"image/png": png, "text/plain": ""}  # no text/markdown fallback
    assert second.data == {"application/json": {"a": [1.0, 2.5]}, "text/plain": "<json>"}
    assert third.data == {"text/plain": "small"}
    assert [o.artifacts for o in cell.outputs] == [{}, {}, {}]
    assert cell.notes == []


async def test_an_unreadable_artifact_keeps_its_fallback_and_a_note(server: SyncServer) -> None:
    [out] = await _outputs(server, {"text/html": "y" * 1_000_000})
    artifact_id = out.artifacts["text/html"]["artifactId"]
    cell = _cell([out])
    other = SyncServer(token=TOKEN)  # a store that never saw it
    await other.start()
    try:
        await resolve_artifacts([cell], ArtifactReader(local=other.artifacts))
    finally:
        await other.stop()
    assert "text/html" not in out.data
    assert out.data["text/plain"].startswith("text/html artifact: http://")
    assert cell.notes == [
        f"the text/html output (artifact {artifact_id}) is missing: not in the artifact store"
    ]


async def test_a_remote_reader_sends_the_bearer_token(server: SyncServer) -> None:
    [out] = await _outputs(server, {"text/html": "z" * 600_000})
    cell = _cell([out])
    await resolve_artifacts([cell], ArtifactReader(origin=server.http_url, token="wrong"))
    assert "HTTP 401" in cell.notes[0]
    [out] = await _outputs(server, {"text/html": "z" * 600_000})
    cell = _cell([out])
    await resolve_artifacts([cell], ArtifactReader(origin=server.http_url, token=TOKEN))
    assert out.data["text/html"] == "z" * 600_000 and cell.notes == []


async def test_a_large_blob_is_restored_as_a_file_the_writers_stream(server: SyncServer) -> None:
    """Over LAZY_BYTES, text and images come back as BlobText (never a whole str in memory),
    from the embedded store and over HTTP alike; text/plain is always a str."""
    from runt_action.blobs import BlobText
    from runt_action.orchestrator.artifacts import LAZY_BYTES

    html = "<p>é😀</p>\n" * (LAZY_BYTES // 10)
    png = base64.b64encode(os.urandom(LAZY_BYTES + 3)).decode()
    plain = "p" * (LAZY_BYTES + 1)
    for reader in (
        ArtifactReader(local=server.artifacts),
        ArtifactReader(origin=server.http_url, token=TOKEN),
    ):
        outputs = await _outputs(
            server,
            {"text/html": html, "text/plain": "<anim>"},
            {"image/png": png, "text/plain": plain},
        )
        cell = _cell(outputs)
        await resolve_artifacts([cell], reader)
        first, second = cell.outputs
        assert isinstance(first.data["text/html"], BlobText)
        assert first.data["text/html"].read() == html and first.data["text/plain"] == "<anim>"
        assert isinstance(second.data["image/png"], BlobText)
        assert second.data["image/png"].encoding == "base64"
        assert second.data["image/png"].read() == png and second.data["text/plain"] == plain
        assert not cell.notes


async def test_a_large_blob_that_is_not_its_text_is_a_note_not_a_value(server: SyncServer) -> None:
    from runt_action.orchestrator.artifacts import LAZY_BYTES

    [out] = await _outputs(server, {"text/html": "h" * (LAZY_BYTES + 1)})
    found = server.artifacts.info(out.artifacts["text/html"]["artifactId"])
    assert found is not None
    found.path.write_bytes(b"\xff\xfe" * (LAZY_BYTES // 2 + 1))  # not UTF-8 any more
    cell = _cell([out])
    await resolve_artifacts([cell], ArtifactReader(local=server.artifacts))
    assert "text/html" not in out.data
    assert len(cell.notes) == 1 and "could not be decoded" in cell.notes[0]
