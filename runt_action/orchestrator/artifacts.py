"""Resolve artifact representations back to the exact values the kernel produced.

An output too large for one sync event travels as an artifact (agents/artifacts.py); the
run's results are built from the store with a placeholder in its place and the reference in
``CellOutput.artifacts`` (orchestrator/outputs.py). This is the one place that fetches them,
once, before the session closes, so every renderer (.ipynb, HTML report, summary) receives
data: the embedded server's blobs are read from its own store, a remote service's over HTTP
(``GET <origin>/api/artifacts/<id>`` with the bearer token). The fallbacks the agent added
(text/plain, text/markdown naming the artifact's URL) go again once the value is back.

A large blob (over :data:`LAZY_BYTES`, text or an image) is not read into memory: it is
hard-linked or copied (checked) to a private file and restored as a ``BlobText``
(runt_action/blobs.py) that the writers stream, so a 100 MB animation never exists as a
100 MB ``str`` in the orchestrator (issue #23's memory bound). ``text/plain`` is always
read: every reader uses it as text.

Nothing is lost silently: an artifact that cannot be fetched keeps its fallback text and the
cell gets a note saying which output is missing and why.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from runt_action.blobs import BlobText
from runt_action.results import CellOutput, CellResult

if TYPE_CHECKING:
    from runt_action.livestore.artifacts import ArtifactStore

__all__ = [
    "LAZY_BYTES",
    "ArtifactReader",
    "decode_artifact",
    "fetch_artifacts",
    "resolve_artifacts",
    "restore_outputs",
]


LAZY_BYTES: Final = 4 * 1024 * 1024
"""A text or image blob larger than this is restored as a streamed :class:`BlobText`."""
_BLOCK: Final = 1024 * 1024


class ArtifactReader:
    """Fetches blobs: from ``local`` (the embedded server's store) or from ``origin``."""

    def __init__(
        self,
        *,
        local: ArtifactStore | None = None,
        origin: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.values: dict[str, Any] = {}  # artifact id -> the value it stands for
        self.failed: dict[str, str] = {}  # artifact id -> why it could not be read
        self._local = local
        self._origin = origin.rstrip("/") if origin else None
        self._token = token
        self._timeout = timeout

    async def fetch_all(self, ids: Iterable[str]) -> dict[str, bytes | str]:
        """Each id's bytes, or a one-line reason it could not be read."""
        found: dict[str, bytes | str] = {}
        wanted = list(dict.fromkeys(ids))
        if self._local is not None:
            store = self._local
            for artifact_id in wanted:
                blob = await asyncio.to_thread(store.read, artifact_id)
                found[artifact_id] = blob if blob is not None else "not in the artifact store"
            return found
        if self._origin is None:
            return {i: "no artifact service is known for this run" for i in wanted}
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            for artifact_id in wanted:
                try:
                    async with http.get(f"{self._origin}/api/artifacts/{artifact_id}") as resp:
                        if resp.status != 200:
                            found[artifact_id] = f"{self._origin} answered HTTP {resp.status}"
                            continue
                        found[artifact_id] = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    found[artifact_id] = f"{type(exc).__name__}: {exc}"
        return found

    async def fetch_file(self, artifact_id: str, encoding: str) -> BlobText | str:
        """The blob as a :class:`BlobText` in a private file (checked to decode as
        ``encoding`` says, never held whole), or a one-line reason it could not be read."""
        if self._local is not None:
            found = self._local.info(artifact_id)
            if found is None:
                return "not in the artifact store"
            return await asyncio.to_thread(_linked_checked, found.path, encoding)
        if self._origin is None:
            return "no artifact service is known for this run"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=headers) as http,
                http.get(f"{self._origin}/api/artifacts/{artifact_id}") as resp,
            ):
                if resp.status != 200:
                    return f"{self._origin} answered HTTP {resp.status}"
                return await _copy_checked_async(resp.content.iter_chunked(_BLOCK), encoding)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"


def _linked_checked(path: Path, encoding: str) -> BlobText | str:
    """A private hard link to a stored blob (no second copy on disk; it outlives the store),
    checked like a copy; a copy where links cannot be made."""
    fd, name = tempfile.mkstemp(prefix="runt-artifact-")
    os.close(fd)
    try:
        os.unlink(name)
        os.link(path, name)
    except OSError:
        return _copy_checked(_file_blocks(path), encoding)
    linked = Path(name)
    try:
        if encoding == "utf-8":
            decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
            for block in _file_blocks(linked):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return BlobText(linked, encoding, linked.stat().st_size)
    except (ValueError, OSError) as exc:
        with contextlib.suppress(OSError):
            linked.unlink()
        return _reason(exc)


def _file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            yield block


class _Checked:
    """Writes blocks to a new private file, checking that text decodes (surrogatepass)."""

    def __init__(self, encoding: str) -> None:
        fd, name = tempfile.mkstemp(prefix="runt-artifact-")
        self.path = Path(name)
        self.out = os.fdopen(fd, "wb")
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self.size = 0

    def write(self, block: bytes) -> None:
        if self.encoding == "utf-8":
            self.decoder.decode(block)  # raises ValueError on bytes that are not the text
        self.out.write(block)
        self.size += len(block)

    def done(self) -> BlobText:
        if self.encoding == "utf-8":
            self.decoder.decode(b"", final=True)
        self.out.close()
        return BlobText(self.path, self.encoding, self.size)

    def fail(self, exc: BaseException) -> str:
        self.out.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        return _reason(exc)


def _reason(exc: BaseException) -> str:
    """One line on why a blob could not be restored (bytes that are not its text, or I/O)."""
    return f"it could not be decoded ({exc})" if isinstance(exc, ValueError) else str(exc)


def _copy_checked(blocks: Iterable[bytes], encoding: str) -> BlobText | str:
    copy = _Checked(encoding)
    try:
        for block in blocks:
            copy.write(block)
        return copy.done()
    except (ValueError, OSError) as exc:
        return copy.fail(exc)
    except BaseException as exc:
        copy.fail(exc)
        raise


async def _copy_checked_async(blocks: AsyncIterator[bytes], encoding: str) -> BlobText | str:
    copy = _Checked(encoding)
    try:
        async for block in blocks:
            copy.write(block)
        return copy.done()
    except (ValueError, OSError) as exc:
        return copy.fail(exc)
    except BaseException as exc:
        copy.fail(exc)
        raise


def decode_artifact(blob: bytes, metadata: dict[str, Any] | None) -> Any:
    """The value an artifact's bytes stand for (see agents/artifacts.py, ``encoding``)."""
    encoding = (metadata or {}).get("encoding")
    if encoding == "base64":
        return base64.b64encode(blob).decode("ascii")
    if encoding == "json":
        return json.loads(blob)
    return blob.decode("utf-8", "surrogatepass")


def _refs(outputs: Iterable[CellOutput]) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """artifact id -> (MIME type, metadata) of every artifact ``outputs`` refer to."""
    return {
        str(ref["artifactId"]): (mime, ref.get("metadata"))
        for out in outputs
        for mime, ref in out.artifacts.items()
        if "artifactId" in ref
    }


def _lazy(mime: str, meta: dict[str, Any] | None) -> bool:
    size = (meta or {}).get("originalSizeBytes")
    encoding = (meta or {}).get("encoding")
    return (
        mime != "text/plain"
        and encoding in ("utf-8", "base64")
        and isinstance(size, int)
        and size > LAZY_BYTES
    )


async def fetch_artifacts(outputs: Iterable[CellOutput], reader: ArtifactReader) -> None:
    """Read every artifact ``outputs`` refer to into ``reader.values`` (or ``reader.failed``),
    once each, so :func:`restore_outputs` can fill them in later, even after the session
    (and the server holding the blobs) is gone."""
    refs = {i: m for i, m in _refs(outputs).items() if i not in reader.values}
    if not refs:
        return
    for artifact_id, (mime, meta) in refs.items():  # one at a time: never two blobs in memory
        if _lazy(mime, meta):
            got = await reader.fetch_file(artifact_id, str((meta or {}).get("encoding")))
            if isinstance(got, BlobText):
                reader.values[artifact_id] = got
            else:
                reader.failed[artifact_id] = got
            continue
        blob = (await reader.fetch_all([artifact_id])).get(artifact_id, "not fetched")
        if isinstance(blob, bytes):
            try:
                reader.values[artifact_id] = decode_artifact(blob, meta)
                continue
            except ValueError as exc:
                blob = f"it could not be decoded ({exc})"
        reader.failed[artifact_id] = blob


def restore_outputs(cells: Iterable[CellResult], reader: ArtifactReader) -> None:
    """Put the values :func:`fetch_artifacts` read back into the outputs' data, in place; an
    artifact that could not be read keeps its fallback text and gets a note on its cell."""
    for cell in cells:
        for out in cell.outputs:
            if not out.artifacts:
                continue
            missing = False
            for mime, ref in list(out.artifacts.items()):
                artifact_id = ref.get("artifactId")
                if artifact_id is None:
                    continue
                if artifact_id in reader.values:
                    out.data[mime] = reader.values[artifact_id]
                    del out.artifacts[mime]
                    continue
                missing = True
                out.data.pop(mime, None)
                why = reader.failed.get(str(artifact_id), "it was never fetched")
                cell.notes.append(f"the {mime} output (artifact {artifact_id}) is missing: {why}")
            if not missing:
                for mime, ref in list(out.artifacts.items()):
                    if ref.get("fallback"):
                        out.data.pop(mime, None)
                out.artifacts.clear()
            out.data.setdefault("text/plain", "")


async def resolve_artifacts(cells: Iterable[CellResult], reader: ArtifactReader) -> None:
    """Put every artifact's value back into its output's data, in place."""
    cells = list(cells)
    await fetch_artifacts((o for c in cells for o in c.outputs), reader)
    restore_outputs(cells, reader)
