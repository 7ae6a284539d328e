"""Upload large output representations to the artifact API, as runt's own runtime does.

A representation above its threshold is POSTed to ``<origin>/api/artifacts`` (bearer token,
``x-notebook-id``; runt-schema §5.5, §6.3) and travels as ``{type: "artifact", artifactId,
metadata: {originalSizeBytes, uploadedAt, encoding, ...}}``. ``<origin>`` is the sync URL's
HTTP origin (wss→https, host only), so the embedded server and the runt service are used the
same way.

Thresholds (bytes of the representation as the kernel produced it):

- ``image/png``: upstream's 6 KiB of decoded image (``IMAGE_ARTIFACT_THRESHOLD_BYTES``);
- everything else: :data:`ARTIFACT_THRESHOLD_BYTES` (256 KiB): text, HTML, JSON and other
  images stay inline while a quarter of a sync event holds them; a bundle still too large for
  one event after that sends its largest representations as artifacts until it fits.

``encoding`` says how the blob maps back to the exact value the kernel produced, so every
reader (orchestrator/artifacts.py) restores it byte for byte: ``base64`` (the blob is the
decoded image, as upstream stores PNGs; used only when re-encoding gives the same text back),
``utf-8`` (a string's text, lone surrogates kept) or ``json`` (a JSON value, e.g. a dict of
``application/json``). Values are streamed in 1 MiB pieces: an upload never copies a whole
output at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from runt_action.agents.spill import SpilledText

__all__ = [
    "ARTIFACT_THRESHOLD_BYTES",
    "IMAGE_ARTIFACT_THRESHOLD_BYTES",
    "ArtifactUploader",
    "Blob",
    "artifact_url",
    "threshold_for",
    "uploaded_metadata",
]


def _image_threshold(default: int = 6 * 1024) -> int:
    """Upstream's ``IMAGE_ARTIFACT_THRESHOLD_BYTES`` (a byte count); anything else is said
    once in the log and the default used."""
    given = os.environ.get("IMAGE_ARTIFACT_THRESHOLD_BYTES", "").strip()
    if not given:
        return default
    if given.isdigit():
        return int(given)
    logging.getLogger(__name__).warning(
        "IMAGE_ARTIFACT_THRESHOLD_BYTES=%r is not a byte count; using %d", given, default
    )
    return default


IMAGE_ARTIFACT_THRESHOLD_BYTES: Final = _image_threshold()
"""image/png of more decoded bytes than this becomes an artifact (upstream's default)."""
ARTIFACT_THRESHOLD_BYTES: Final = 256 * 1024
"""Any other representation of more bytes than this becomes an artifact."""
_PIECE: Final = 1024 * 1024  # chars per streamed piece (a multiple of 4: whole base64 quads)
_BINARY: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})


def threshold_for(mime: str) -> int:
    return IMAGE_ARTIFACT_THRESHOLD_BYTES if mime == "image/png" else ARTIFACT_THRESHOLD_BYTES


def artifact_url(origin: str, artifact_id: str) -> str:
    return f"{origin.rstrip('/')}/api/artifacts/{artifact_id}"


class Blob:
    """One representation as the bytes to upload: its size, content type and encoding.

    ``value`` may be a :class:`SpilledText` (agents/spill.py): then it is read from its file
    piece by piece, a file it goes on owning (:meth:`SpilledText.discard` is the caller's)."""

    def __init__(self, mime: str, value: Any) -> None:
        self.mime = mime
        self._text: str | None = None
        self._file: SpilledText | None = None
        if isinstance(value, SpilledText):
            self._file = value
            self.encoding = "base64" if mime in _BINARY and _canonical_file(value) else "utf-8"
            self.size = value.nbytes
            if self.encoding == "base64":
                self.size = _decoded_size(value)
            self.content_type = mime if self.encoding == "base64" else _text_type(mime)
            return
        if isinstance(value, str):
            self._text = value
            self.encoding = "base64" if mime in _BINARY and _canonical_base64(value) else "utf-8"
        else:
            self._text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
            self.encoding = "json"
        if self.encoding == "base64":
            self.size = len(value) // 4 * 3 - value[-2:].count("=")
            self.content_type = mime
        elif self.encoding == "json":
            self.size = len(self._text)
            self.content_type = "application/json"
        else:
            self.size = _utf8_size(self._text)
            self.content_type = f"{mime}; charset=utf-8" if mime.startswith("text/") else mime
            if mime in _BINARY:  # base64 text we cannot round-trip through bytes: keep it
                self.content_type = "text/plain; charset=utf-8"

    async def pieces(self) -> AsyncIterator[bytes]:
        if self._file is not None:
            with self._file.path.open("rb") as f:
                while block := f.read(_PIECE):
                    yield base64.b64decode(block) if self.encoding == "base64" else block
            return
        text = self._text
        assert text is not None
        for start in range(0, len(text), _PIECE):
            piece = text[start : start + _PIECE]
            if self.encoding == "base64":
                yield base64.b64decode(piece)
            else:
                yield piece.encode("utf-8", "surrogatepass")


def _text_type(mime: str) -> str:
    if mime in _BINARY:  # base64 text we cannot round-trip through bytes: keep it
        return "text/plain; charset=utf-8"
    return f"{mime}; charset=utf-8" if mime.startswith("text/") else mime


def _canonical_file(text: SpilledText) -> bool:
    """:func:`_canonical_base64` of a spilled text, read piece by piece."""
    if text.nbytes != text.chars or not text.nbytes or text.nbytes % 4:
        return False
    with text.path.open("rb") as f:
        while block := f.read(_PIECE):
            try:
                if base64.b64encode(base64.b64decode(block, validate=True)) != block:
                    return False
            except (binascii.Error, ValueError):
                return False
            if b"=" in block and f.tell() < text.nbytes:
                return False
    return True


def _decoded_size(text: SpilledText) -> int:
    with text.path.open("rb") as f:
        f.seek(max(0, text.nbytes - 2))
        return text.nbytes // 4 * 3 - f.read().count(b"=")


def _utf8_size(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(
        len(text[i : i + _PIECE].encode("utf-8", "surrogatepass"))
        for i in range(0, len(text), _PIECE)
    )


def _canonical_base64(text: str) -> bool:
    """``text`` is plain base64 (no line breaks) that decoding and encoding give back exactly."""
    if not text or len(text) % 4 or not text.isascii():
        return False
    for start in range(0, len(text), _PIECE):
        piece = text[start : start + _PIECE].encode("ascii")
        try:
            if base64.b64encode(base64.b64decode(piece, validate=True)) != piece:
                return False
        except (binascii.Error, ValueError):
            return False
        if b"=" in piece and start + _PIECE < len(text):
            return False  # padding inside the text
    return True


class ArtifactUploader:
    """POSTs blobs to ``<origin>/api/artifacts`` for one notebook (one HTTP session)."""

    def __init__(
        self,
        origin: str,
        notebook_id: str,
        token: str | None,
        *,
        timeout: float | None = None,
    ) -> None:
        self.origin = origin.rstrip("/")
        self.notebook_id = notebook_id
        self._token = token
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    def url(self, artifact_id: str) -> str:
        return artifact_url(self.origin, artifact_id)

    async def upload(self, blob: Blob) -> str:
        """The new artifact's id; raises ``RuntimeError`` with a one-line reason on failure.

        A new connection per upload: a kept-alive one may have been closed by the server
        while a slow cell ran, and a streamed POST cannot be replayed on another. A connection
        that fails before any answer is tried once more."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(force_close=True),
            )
        headers = {"x-notebook-id": self.notebook_id, "Content-Type": blob.content_type}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        for attempt in (1, 2):
            try:
                async with self._http.post(
                    f"{self.origin}/api/artifacts", data=blob.pieces(), headers=headers
                ) as resp:
                    if resp.status >= 300:
                        raise RuntimeError(f"{self.origin} answered HTTP {resp.status}")
                    body: Any = await resp.json(content_type=None)
                break
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if attempt == 2:
                    raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc
        artifact_id = body.get("artifactId") if isinstance(body, dict) else None
        if not isinstance(artifact_id, str) or not artifact_id:
            raise RuntimeError(f"{self.origin} answered without an artifactId")
        return artifact_id

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def uploaded_metadata(blob: Blob, kernel_metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The artifact representation's metadata: the kernel's own, then what readers need."""
    meta = dict(kernel_metadata or {})
    meta.update(
        originalSizeBytes=blob.size,
        uploadedAt=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        encoding=blob.encoding,
        contentType=blob.content_type,
    )
    return meta
