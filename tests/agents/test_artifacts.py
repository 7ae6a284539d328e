"""Large representations travel as artifacts: the sink uploads them (real server, real HTTP),
keeps the cell's output order, and a reader restores the exact value the kernel produced."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runt_action.agents.artifacts import (
    ARTIFACT_THRESHOLD_BYTES,
    IMAGE_ARTIFACT_THRESHOLD_BYTES,
    ArtifactUploader,
    Blob,
)
from runt_action.agents.sink import ARTIFACT_FALLBACK, MAX_EVENT_BYTES, EventSink
from runt_action.livestore.protocol import MAX_INBOUND_FRAME_BYTES, dumps
from runt_action.livestore.server import SyncServer
from runt_action.orchestrator.artifacts import decode_artifact
from runt_action.schema.notices import notice_of

TOKEN = "sink-artifact-token"
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
async def server() -> AsyncIterator[SyncServer]:
    srv = SyncServer(token=TOKEN)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def uploader(server: SyncServer) -> AsyncIterator[ArtifactUploader]:
    up = ArtifactUploader(server.http_url, "nb1", TOKEN)
    try:
        yield up
    finally:
        await up.close()


def make(events: Events, uploader: ArtifactUploader | None, **kw: Any) -> EventSink:
    return EventSink(
        lambda e: events.append(e.wire()),
        cell_id="c1",
        execution_count=3,
        cleared_by="runtime-x",
        uploader=uploader,
        **kw,
    )


def _restored(server: SyncServer, media: dict[str, Any]) -> Any:
    blob = server.artifacts.read(media["artifactId"])
    assert blob is not None
    return decode_artifact(blob, media["metadata"])


@pytest.mark.parametrize(
    ("mime", "value"),
    [
        ("image/png", base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(40_000)).decode()),
        ("image/png", "iVBOR\n" * 20_000),  # base64 with line breaks: kept as its text
        ("text/html", "<p>caf\u00e9 \U0001f600 \ud800</p>" * 30_000),  # lone surrogate too
        ("application/json", {"rows": [{"i": i, "v": i / 7, "w": 1.0} for i in range(20_000)]}),
        ("image/svg+xml", "<svg>" + "<g/>" * 100_000 + "</svg>"),
    ],
)
async def test_a_large_representation_is_uploaded_and_restored_exactly(
    server: SyncServer, uploader: ArtifactUploader, mime: str, value: Any
) -> None:
    events: Events = []
    sink = make(events, uploader)
    sink.display({mime: value, "text/plain": "<obj>"}, {mime: {"width": 7}})
    sink.close()
    assert events == []  # still uploading: nothing may overtake it
    await sink.drained()
    [(name, args)] = events
    assert name == "v1.MultimediaDisplayOutputAdded"
    media = args["representations"][mime]
    assert media["type"] == "artifact" and media["artifactId"].startswith("nb1/")
    assert media["metadata"]["width"] == 7  # the kernel's own metadata is kept
    assert media["metadata"]["originalSizeBytes"] > 0
    restored = _restored(server, media)
    assert restored == value and type(restored) is type(value)
    if isinstance(value, str):
        assert restored.encode("utf-8", "surrogatepass") == value.encode("utf-8", "surrogatepass")
    assert args["representations"]["text/plain"]["data"] == "<obj>"  # the kernel's stays
    assert len(dumps(args)) < MAX_INBOUND_FRAME_BYTES


async def test_png_above_upstreams_threshold_travels_with_upstreams_fallbacks(
    server: SyncServer, uploader: ArtifactUploader
) -> None:
    png = base64.b64encode(os.urandom(IMAGE_ARTIFACT_THRESHOLD_BYTES + 10)).decode()
    events: Events = []
    sink = make(events, uploader)
    sink.display({"image/png": png})
    await sink.drained()
    [(_, args)] = events
    reps = args["representations"]
    media = reps["image/png"]
    url = f"{server.http_url}/api/artifacts/{media['artifactId']}"
    assert media["metadata"]["encoding"] == "base64"  # the blob is the image itself
    assert server.artifacts.read(media["artifactId"]) == base64.b64decode(png)
    assert reps["text/plain"]["data"] == f"image/png artifact: {url}"
    assert reps["text/markdown"]["data"] == f"![image/png artifact]({url})"
    assert reps["text/plain"]["metadata"] == {ARTIFACT_FALLBACK: True}


async def test_small_outputs_stay_inline(uploader: ArtifactUploader) -> None:
    events: Events = []
    sink = make(events, uploader)
    small_png = base64.b64encode(os.urandom(IMAGE_ARTIFACT_THRESHOLD_BYTES - 100)).decode()
    sink.display({"image/png": small_png, "text/html": "h" * (ARTIFACT_THRESHOLD_BYTES - 1)})
    assert len(events) == 1  # synchronously, as before
    reps = events[0][1]["representations"]
    assert {m: r["type"] for m, r in reps.items()} == {
        "image/png": "inline",
        "text/html": "inline",
        "text/plain": "inline",
    }


async def test_many_medium_representations_go_until_the_event_fits(
    server: SyncServer, uploader: ArtifactUploader
) -> None:
    bundle = {f"text/x-part{i}": chr(97 + i) * 200_000 for i in range(8)}  # each under 256 KiB
    events: Events = []
    sink = make(events, uploader)
    sink.result(bundle)
    await sink.drained()
    [(name, args)] = events
    assert name == "v1.MultimediaResultOutputAdded"
    assert len(dumps(args)) <= MAX_EVENT_BYTES
    for mime, value in bundle.items():
        media = args["representations"][mime]
        got = media["data"] if media["type"] == "inline" else _restored(server, media)
        assert got == value


async def test_output_order_is_kept_behind_an_upload(uploader: ArtifactUploader) -> None:
    events: Events = []
    sink = make(events, uploader, flush_delay=0)
    sink.stream("stdout", "before\n")
    sink.display({"text/html": "x" * 2_000_000})
    sink.stream("stdout", "after\n")
    sink.display({"text/plain": "small"})
    sink.clear(wait=True)
    await asyncio.sleep(0.01)  # the timed flush of "after" happens meanwhile
    sink.error("ValueError", "boom", [])
    sink.close()
    await sink.drained()
    kinds = [(n, a.get("position"), (a.get("content") or {}).get("data")) for n, a in events]
    assert kinds == [
        ("v1.TerminalOutputAdded", 0, "before\n"),
        ("v1.MultimediaDisplayOutputAdded", 1, None),
        ("v1.TerminalOutputAdded", 2, "after\n"),
        ("v1.MultimediaDisplayOutputAdded", 3, None),
        ("v1.CellOutputsCleared", None, None),
        ("v1.ErrorOutputAdded", 4, {"ename": "ValueError", "evalue": "boom", "traceback": []}),
    ]
    assert events[1][1]["representations"]["text/html"]["type"] == "artifact"


async def test_secrets_are_masked_before_the_upload(
    server: SyncServer, uploader: ArtifactUploader
) -> None:
    from runt_action.masking import Scrubber

    mask = Scrubber(["hunter2-secret"])
    events: Events = []
    sink = make(events, uploader, mask=mask.deep)
    sink.display({"text/html": "<p>hunter2-secret</p>" * 20_000})
    await sink.drained()
    media = events[0][1]["representations"]["text/html"]
    blob = server.artifacts.read(media["artifactId"])
    assert blob is not None and b"hunter2" not in blob and b"***" in blob


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_failed_upload_keeps_what_fits_inline_and_says_what_it_dropped() -> None:
    dead = ArtifactUploader(f"http://127.0.0.1:{_closed_port()}", "nb1", TOKEN, timeout=5)
    try:
        events: Events = []
        sink = make(events, dead)
        png = base64.b64encode(os.urandom(20_000)).decode()
        sink.display({"image/png": png, "text/plain": "fig"})  # fits inline: upstream's fallback
        sink.display({"text/html": "x" * 3_000_000})  # cannot fit: the visible notice
        await sink.drained()
    finally:
        await dead.close()
    first, second = (args["representations"] for _, args in events)
    assert first["image/png"] == {"type": "inline", "data": png}
    found = notice_of(second["text/plain"])
    assert found is not None and found[0] == "dropped"
    assert "the upload as an artifact failed" in found[1] and "text/html" in found[1]


async def test_without_an_uploader_a_too_large_bundle_is_still_the_dropped_notice() -> None:
    events: Events = []
    sink = make(events, None)
    sink.display({"text/html": "x" * 2_000_000})
    [(_, args)] = events
    found = notice_of(args["representations"]["text/plain"])
    assert found is not None and found[0] == "dropped"


def test_blob_encodings() -> None:
    png = base64.b64encode(b"\x89PNG" + bytes(range(256)) * 10).decode()
    assert Blob("image/png", png).encoding == "base64"
    assert Blob("image/png", png).size == len(base64.b64decode(png))
    assert Blob("image/png", png[:-1]).encoding == "utf-8"  # not whole quads
    assert Blob("image/png", png + "\n").encoding == "utf-8"
    assert Blob("text/html", "é").size == 2
    assert Blob("application/json", {"a": 1.0}).encoding == "json"
    assert json.loads(b"".join(asyncio.run(_all(Blob("application/json", [1.0]))))) == [1.0]


async def _all(blob: Blob) -> list[bytes]:
    return [piece async for piece in blob.pieces()]


def _spilled(tmp: Any, value: str) -> Any:
    from runt_action.agents.spill import loads_spilling

    frame = json.dumps({"v": value}).encode()
    return loads_spilling(frame, directory=tmp, threshold=1000, piece=4096)["v"]


async def test_a_spilled_value_is_uploaded_from_its_file_masked_across_pieces(
    server: SyncServer, uploader: ArtifactUploader, tmp_path: Any
) -> None:
    """A value the engine spilled to a file (agents/spill.py) is masked piece by piece: a
    secret across a piece boundary (1 MiB pieces) is masked too; the file is removed."""
    from runt_action.agents.spill import PIECE_BYTES, SpilledText
    from runt_action.masking import Scrubber

    secret = "hunter2-secret"
    filler = "<p>" + "x" * (PIECE_BYTES - 3 - len(secret) // 2)
    value = (filler + secret) * 3 + "\u00e9\U0001f600 end"
    spilled = _spilled(tmp_path, value)
    assert isinstance(spilled, SpilledText)
    events: Events = []
    sink = make(events, uploader, scrubber=Scrubber([secret]))
    sink.display({"text/html": spilled, "text/plain": "<HTML>"})
    await sink.drained()
    media = events[0][1]["representations"]["text/html"]
    assert media["type"] == "artifact"
    assert media["metadata"]["encoding"] == "utf-8"
    blob = server.artifacts.read(media["artifactId"])
    assert blob is not None
    assert blob.decode() == Scrubber([secret]).text(value) and b"hunter2" not in blob
    assert list(tmp_path.iterdir()) == []


async def test_artifacts_do_not_count_against_the_inline_cap_but_their_own(
    uploader: ArtifactUploader, tmp_path: Any
) -> None:
    """The output cap counts what stays in events; artifact-bound data has its own cap (a
    runaway loop of huge displays is still cut, with the marker). Files are removed."""
    events: Events = []
    sink = make(events, uploader, output_cap=100_000, artifact_cap=5_000_000)
    for _ in range(3):
        sink.display({"text/html": _spilled(tmp_path, "<b>" + "y" * 2_000_000)})
    sink.close()
    await sink.drained()
    kinds = [a["representations"]["text/html"]["type"] for n, a in events if "representations" in a]
    assert kinds == ["artifact", "artifact"]
    found = notice_of(events[-1][1]["content"])
    assert found is not None and found[0] == "truncated" and "1 rich outputs" in found[1]
    assert list(tmp_path.iterdir()) == []


async def test_a_spilled_value_without_an_uploader_is_the_dropped_notice(tmp_path: Any) -> None:
    events: Events = []
    sink = make(events, None)
    sink.display({"text/html": _spilled(tmp_path, "z" * 2_000_000), "text/plain": "t"})
    await sink.drained()
    found = notice_of(events[0][1]["representations"]["text/plain"])
    assert found is not None and found[0] == "dropped"
    assert list(tmp_path.iterdir()) == []
