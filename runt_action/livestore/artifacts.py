"""Blobs too large for one sync event, kept beside the event log: upstream's artifact API.

Same paths and semantics as anode's service (runt-schema §5.5): ``POST /api/artifacts`` with
``x-notebook-id`` and a raw body answers ``{"artifactId": "<storeId>/<uuid>"}``;
``GET /api/artifacts/<artifactId>`` returns the bytes with the content type they came with.
Unlike upstream (public downloads), both need the server's token as ``Authorization: Bearer``:
outputs may hold what a notebook computed from private data, and the viewer's page reads them
through its own cookie-guarded route (:meth:`ArtifactStore.response`).

A blob is streamed to a file as it arrives (never held whole in memory): beside the event log
(``<log>.artifacts/``) when the server keeps one, else in a private temporary directory that
:meth:`ArtifactStore.close` removes, as an in-memory log forgets its events. Nothing here knows
what a blob holds; it is keyed by a store id only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import StreamReader, web

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_TOTAL_BYTES",
    "ArtifactInfo",
    "ArtifactStore",
    "artifact_dir_for",
]

MAX_ARTIFACT_BYTES: Final = 1024 * 1024 * 1024
"""Largest blob one upload may store (1 GiB); a larger body is refused with 413."""
MAX_TOTAL_BYTES: Final = 16 * 1024 * 1024 * 1024
"""What all blobs of one server may take on disk together (16 GiB); then uploads get 507."""
_CHUNK: Final = 1024 * 1024
_STORE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ARTIFACT_ID = re.compile(r"([A-Za-z0-9_-]{1,128})/([0-9a-f]{32})")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")


def artifact_dir_for(db_path: Path) -> Path:
    """Where a server whose event log is ``db_path`` keeps its blobs."""
    return db_path.with_name(db_path.name + ".artifacts")


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    artifact_id: str
    content_type: str
    size: int
    path: Path


class ArtifactStore:
    """Blobs on disk under ``directory`` (None: a private temporary one, removed on close)."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        max_bytes: int = MAX_ARTIFACT_BYTES,
        max_total: int = MAX_TOTAL_BYTES,
    ) -> None:
        self._temporary = directory is None
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="runt-artifacts-"))  # mode 0700
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_total = max_total
        self._used = 0

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- storage ----------------------------------------------------------------------------

    def _paths(self, artifact_id: str) -> tuple[Path, Path] | None:
        found = _ARTIFACT_ID.fullmatch(artifact_id)
        if found is None:
            return None
        folder = self.directory / found.group(1)
        return folder / found.group(2), folder / f"{found.group(2)}.json"

    def info(self, artifact_id: str) -> ArtifactInfo | None:
        """The stored blob ``artifact_id`` names, or None (unknown, or not an id of ours)."""
        paths = self._paths(artifact_id)
        if paths is None:
            return None
        blob, meta = paths
        try:
            content_type = json.loads(meta.read_text("utf-8"))["contentType"]
            size = blob.stat().st_size
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return ArtifactInfo(artifact_id, str(content_type), size, blob)

    def read(self, artifact_id: str) -> bytes | None:
        """The whole blob (for a reader that needs it in memory anyway), or None."""
        found = self.info(artifact_id)
        return None if found is None else found.path.read_bytes()

    async def receive(self, store_id: str, content_type: str, body: StreamReader) -> str:
        """Stream ``body`` to a new blob of ``store_id``; its artifact id. Raises
        :class:`web.HTTPException` subclasses for a body over the limits."""
        artifact_id = f"{store_id}/{uuid.uuid4().hex}"
        paths = self._paths(artifact_id)
        assert paths is not None
        blob, meta = paths
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_suffix(".part")
        size = 0
        try:
            with partial.open("wb") as out:
                while chunk := await body.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise web.HTTPRequestEntityTooLarge(
                            max_size=self.max_bytes, actual_size=size
                        )
                    if self._used + size > self.max_total:
                        raise web.HTTPInsufficientStorage(
                            text=f"the artifact store is full ({self.max_total} bytes)"
                        )
                    out.write(chunk)
            meta.write_text(json.dumps({"contentType": content_type, "size": size}), "utf-8")
            os.replace(partial, blob)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            with contextlib.suppress(OSError):
                meta.unlink()
            raise
        self._used += size
        return artifact_id

    # -- HTTP -------------------------------------------------------------------------------

    def response(self, artifact_id: str) -> web.StreamResponse:
        """The blob as a download (streamed from its file), or a 404. A browser is told not to
        sniff it and, for active content, to run nothing in it (it is a notebook's output)."""
        found = self.info(artifact_id)
        if found is None:
            return web.Response(status=404, text="404: no such artifact\n")
        headers = {
            "Content-Type": found.content_type,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=31536000, immutable",
        }
        return web.FileResponse(found.path, headers=headers)

    async def handle_post(self, request: web.Request) -> web.StreamResponse:
        store_id = request.headers.get("x-notebook-id", "")
        if not _STORE_ID.fullmatch(store_id):
            return web.json_response(
                {"error": "x-notebook-id must be 1 to 128 of A-Z a-z 0-9 _ -"}, status=400
            )
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        content_type = content_type.split(";")[0].strip().lower() or "application/octet-stream"
        if not _CONTENT_TYPE.fullmatch(content_type):
            content_type = "application/octet-stream"
        if request.content_length is not None and request.content_length > self.max_bytes:
            return web.json_response(
                {"error": f"an artifact may hold at most {self.max_bytes} bytes"}, status=413
            )
        try:
            artifact_id = await self.receive(store_id, content_type, request.content)
        except web.HTTPException as exc:
            return web.json_response({"error": exc.text or exc.reason}, status=exc.status)
        return web.json_response({"artifactId": artifact_id})
