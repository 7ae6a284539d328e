"""Turns what an engine reports for one execution into runt output events, each fitting the wire.

Kept free of LiveStore: it only calls ``emit(event)`` with typed schema events, so the agent
core decides how events are committed and tests can collect them in a list. Stream text is
coalesced: a burst of small writes becomes one ``v1.TerminalOutputAdded`` per stream switch,
per ~50 ms or per 64 KiB, and nothing is ever held past :meth:`EventSink.close`.

Every event must fit one sync frame (1 MiB, ``livestore.protocol.MAX_INBOUND_FRAME_BYTES``),
and nothing may vanish silently (schema/notices.py), so:

- stream text goes out in pieces of at most :data:`CHUNK_BYTES` encoded bytes, cut after the
  last newline of a piece when it has one (never inside a character or a surrogate pair).
  Consumers concatenate a cell's terminal outputs in order, so a 3 MB line survives intact;
- a display or result (a MIME bundle cannot be split) sends each representation above its
  threshold to the artifact API (agents/artifacts.py) when the agent has an uploader, and
  carries ``{type: "artifact", artifactId}`` instead, with upstream's text/plain and
  text/markdown fallbacks (marked ``artifactFallback``, so readers that restore the artifact
  drop them again). The event goes out once its uploads are done, and everything the cell
  reports later waits behind it, so the order never changes (:meth:`EventSink.drained`).
  Without an uploader, or when an upload fails and the value cannot travel inline, a bundle
  whose event would exceed :data:`MAX_EVENT_BYTES` is replaced by a visible "dropped" notice
  standing in its place (same event type, a ``text/plain`` notice);
- an error's ``evalue`` and traceback are cut to fit (the error row stays: it is how a failed
  cell is recognised) and a "truncated" notice follows it;
- a cell keeps at most :data:`CELL_OUTPUT_CAP` bytes of output in events and
  :data:`CELL_ARTIFACT_CAP` bytes as artifacts (so a 100 MB animation is kept whole, a loop
  displaying images forever is not); what comes after is counted, not sent, and one
  "truncated" notice at the end of the cell says how much was cut. A clear of the cell's
  outputs starts the count again (a progress bar redrawing forever is fine).

A representation the engine spilled to a file (agents/spill.py: a 100 MB value is never held
in memory twice) is uploaded from its file, masked piece by piece, and the file removed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from runt_action.agents.spill import SpilledText
from runt_action.livestore.protocol import MAX_INBOUND_FRAME_BYTES
from runt_action.schema.events import (
    ArtifactMedia,
    CellOutputsCleared,
    ErrorOutputAdded,
    InlineMedia,
    MarkdownOutputAdded,
    MarkdownOutputAppended2,
    Media,
    MultimediaDisplayOutputAdded,
    MultimediaDisplayOutputUpdated,
    MultimediaResultOutputAdded,
    RuntEvent,
    TerminalOutputAdded,
)
from runt_action.schema.ids import new_output_id
from runt_action.schema.notices import DROPPED, TRUNCATED, NoticeKind, notice_media

if TYPE_CHECKING:
    from runt_action.agents.artifacts import ArtifactUploader
    from runt_action.masking import Scrubber

__all__ = [
    "CELL_ARTIFACT_CAP",
    "CELL_OUTPUT_CAP",
    "CHUNK_BYTES",
    "CLEAN_EXIT_VALUES",
    "FLUSH_BYTES",
    "FLUSH_DELAY_S",
    "MAX_EVENT_BYTES",
    "EventSink",
    "clean_exit",
    "encoded_size",
    "representations",
    "split_text",
]

FLUSH_DELAY_S: Final = 0.05
FLUSH_BYTES: Final = 64 * 1024
CHUNK_BYTES: Final = 256 * 1024
"""Largest piece of stream text per event, in JSON-encoded UTF-8 bytes (a quarter frame)."""
MAX_EVENT_BYTES: Final = MAX_INBOUND_FRAME_BYTES - 32 * 1024
"""Largest encoded args of one output event; the rest of the frame is envelope and margin."""
CELL_OUTPUT_CAP: Final = 64 * 1024 * 1024
"""Per execution of a cell: output kept in events (stream text, inline bundles), in bytes."""
CELL_ARTIFACT_CAP: Final = 1024 * 1024 * 1024
"""Per execution of a cell: representations kept as artifacts, in bytes (one artifact's
limit, livestore/artifacts.py ``MAX_ARTIFACT_BYTES``)."""
_ERROR_FIELD_CAP: Final = 64 * 1024  # chars of an error's evalue kept when it must be cut

Emit = Callable[[RuntEvent], object]
log = logging.getLogger(__name__)
ARTIFACT_FALLBACK: Final = "artifactFallback"
"""Metadata flag of the text/plain and text/markdown an artifact bundle gained (upstream's)."""

_encode_str: Callable[[str], str] = json.encoder.encode_basestring


CLEAN_EXIT_VALUES: Final = ("", "0", "None")
"""``evalue`` of a SystemExit that ends a notebook cleanly: ``sys.exit()``, ``sys.exit(0)``,
``raise SystemExit``, ``sys.exit(None)`` (papermill accepts "" and "0"; Python's own exit status
for None is 0 too). ``sys.exit("msg")`` or ``sys.exit(3)`` stay failures."""


def clean_exit(ename: str | None, evalue: str | None) -> bool:
    """The error a cell reported is a clean end of the notebook (``sys.exit(0)``), not a
    failure: the cell succeeds and later cells are not run (as papermill does)."""
    return ename == "SystemExit" and (evalue or "").strip() in CLEAN_EXIT_VALUES


def encoded_size(text: str) -> int:
    """Bytes ``text`` takes inside a JSON frame (escapes, UTF-8; lone surrogates as escapes)."""
    if text.isascii():
        return len(_encode_str(text)) - 2
    return len(_encode_str(text).encode("utf-8", "surrogatepass")) - 2


def _json_size(value: Any) -> int:
    return len(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )
    )


def split_text(text: str, limit: int = CHUNK_BYTES) -> list[str]:
    """Consecutive pieces of ``text``, each at most ``limit`` encoded bytes; "".join = text.

    A piece ends after its last newline when it has one; no piece ends between the halves of
    a surrogate pair.
    """
    pieces: list[str] = []
    start, end = 0, len(text)
    while start < end:
        n = min(limit, end - start)  # chars; a char is at least one byte
        while n > 1 and encoded_size(text[start : start + n]) > limit:
            over = encoded_size(text[start : start + n])
            n = max(1, min(n - 1, n * limit // over))
        stop = start + n
        if stop < end:
            newline = text.rfind("\n", start, stop)
            if newline >= start:
                stop = newline + 1
            elif stop - start > 1 and "\ud800" <= text[stop - 1] <= "\udbff":
                stop -= 1  # keep a (lone-surrogate encoded) pair together
        pieces.append(text[start:stop])
        start = stop
    return pieces


def representations(
    data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> dict[str, Media]:
    """A Jupyter MIME bundle as runt ``Record<mime, Media>`` (inline), per-mime metadata kept."""
    reps: dict[str, Media] = {}
    for mime, value in data.items():
        meta = (metadata or {}).get(mime)
        reps[mime] = InlineMedia(
            data=value, metadata=meta if isinstance(meta, dict) and meta else None
        )
    if "text/plain" not in reps and reps:
        reps["text/plain"] = InlineMedia(data=f"<{next(iter(reps))} output>")
    return reps


def _value_bytes(value: Any) -> int:
    """Encoded size of one representation (a lower bound for a string: escapes only add)."""
    if isinstance(value, SpilledText):
        return value.nbytes
    if isinstance(value, str):
        return len(value)
    return _json_size(value)


def _discard(data: dict[str, Any]) -> None:
    for value in data.values():
        if isinstance(value, SpilledText):
            value.discard()


def _bundle_size(data: dict[str, Any], metadata: dict[str, Any] | None) -> int:
    """Encoded size of a bundle (exact when it might matter, cheap when it cannot)."""
    if any(isinstance(v, SpilledText) for v in data.values()):
        return sum(_value_bytes(v) for v in data.values()) + 256  # over one event anyway
    rough = 0
    for value in data.values():
        if not isinstance(value, str):
            return _json_size(data) + (_json_size(metadata) if metadata else 0)
        rough += len(value)
    if rough * 6 + 4096 < MAX_EVENT_BYTES // 2 or rough > 4 * MAX_EVENT_BYTES:
        # small: an upper bound; huge: a lower bound (escapes only add), and either way past
        # one event, so a 100 MB value is not encoded (twice its size in memory) only to say so
        return rough + 256
    return _json_size(data) + (_json_size(metadata) if metadata else 0)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB"


class EventSink:
    """An engine's OutputSink for one execution of one cell."""

    def __init__(
        self,
        emit: Emit,
        *,
        cell_id: str,
        execution_count: int | None,
        cleared_by: str,
        flush_delay: float = FLUSH_DELAY_S,
        flush_bytes: int = FLUSH_BYTES,
        output_cap: int = CELL_OUTPUT_CAP,
        artifact_cap: int = CELL_ARTIFACT_CAP,
        holdback: Callable[[str], int] | None = None,
        uploader: ArtifactUploader | None = None,
        mask: Callable[[Any], Any] | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        """``holdback(text)``: how many trailing characters of a timed or size flush to keep
        for the next write (the start of a secret that write may complete). Such a tail (a
        few characters, and only while they begin a secret) goes out with the next write,
        or at the next forced flush: another stream, a display, the end of the cell.
        ``uploader``: large representations become artifacts; ``mask``: applied to a value
        before it is uploaded (the agent masks everything it commits, not what it uploads);
        ``scrubber``: the same masking (``mask`` defaults to its ``deep``), which a spilled
        representation needs to be masked piece by piece."""
        self._emit = emit
        self._uploader = uploader
        self._scrubber = scrubber if scrubber else None
        self._mask = mask if mask is not None or self._scrubber is None else self._scrubber.deep
        # Events wait here behind an output whose uploads are not done yet (order is kept).
        self._queue: deque[RuntEvent | asyncio.Task[RuntEvent | None]] = deque()
        self._holdback = holdback
        self._cell_id = cell_id
        self._execution_count = execution_count
        self._cleared_by = cleared_by
        self._flush_delay = flush_delay
        self._flush_bytes = flush_bytes
        self._cap = output_cap
        self._artifact_cap = artifact_cap
        self._artifact_kept = 0  # bytes sent as artifacts since the start (or the last clear)
        self._position = 0  # per execution; back to 0 after a non-wait clear (runt-schema §2.4)
        self._buf_name: str | None = None
        self._buf: list[str] = []
        self._buf_len = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._kept = 0  # bytes of output sent since the start (or the last clear)
        self._cut_bytes = 0  # bytes not sent because of the cap
        self._cut_outputs = 0  # rich outputs not sent because of the cap
        self.last_error: tuple[str, str] | None = None  # (ename, evalue) of sink.error

    # -- OutputSink --------------------------------------------------------------------------

    def stream(self, name: str, text: str) -> None:
        if self._closed or not text:
            return
        name = "stderr" if name == "stderr" else "stdout"
        if self._buf_name is not None and self._buf_name != name:
            self.flush()
        self._buf_name = name
        self._buf.append(text)
        self._buf_len += len(text)
        if self._buf_len >= self._flush_bytes:
            self._flush_soon()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_delay, self._flush_soon)

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        if self._closed:
            return
        self.flush()
        if update and display_id:

            def updated(reps: dict[str, Media]) -> RuntEvent:
                return MultimediaDisplayOutputUpdated(displayId=display_id, representations=reps)

            self._bundle_out(data, metadata, "display output", updated)
            return
        output_id, position = new_output_id(), self._position

        def added(reps: dict[str, Media]) -> RuntEvent:
            return MultimediaDisplayOutputAdded(
                id=output_id,
                cellId=self._cell_id,
                position=position,
                representations=reps,
                displayId=display_id or None,
            )

        if self._bundle_out(data, metadata, "display output", added):
            self._next_position()

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        if self._closed:
            return
        self.flush()
        output_id, position = new_output_id(), self._position

        def added(reps: dict[str, Media]) -> RuntEvent:
            return MultimediaResultOutputAdded(
                id=output_id,
                cellId=self._cell_id,
                position=position,
                representations=reps,
                executionCount=self._execution_count or 0,
            )

        if self._bundle_out(data, metadata, "result", added):
            self._next_position()

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        if self._closed:
            return
        self.flush()
        self.last_error = (ename, evalue)
        content = {"ename": ename, "evalue": evalue, "traceback": list(traceback)}
        size = _json_size(content)
        cut = 0
        if size > MAX_EVENT_BYTES:  # cut it to fit: the error row itself must stay
            content, cut = _shrink_error(ename, evalue, list(traceback))
        self._out(
            ErrorOutputAdded(
                id=new_output_id(),
                cellId=self._cell_id,
                position=self._next_position(),
                content=InlineMedia(data=content),
            )
        )
        if cut:
            self.notice(
                TRUNCATED,
                f"the {ename} error was {_mb(size)}: {cut} characters of its message and "
                "traceback were cut to fit one sync event",
            )

    def clear(self, wait: bool = False) -> None:
        if self._closed:
            return
        if wait:
            self.flush()
        else:
            self._drop_buffer()  # text written before a clear would be deleted at once anyway
            self._position = 0
        self._kept = self._artifact_kept = 0  # the caps bound what is kept; a cut is still told
        self._out(CellOutputsCleared(cellId=self._cell_id, wait=wait, clearedBy=self._cleared_by))

    # -- markdown (AI answers) -----------------------------------------------------------

    def markdown(self, text: str, metadata: dict[str, Any] | None = None) -> str:
        """A ``text/markdown`` output (an AI answer) that :meth:`append_markdown` grows;
        returns its id. An answer streams as many small deltas, each one event."""
        self.flush()
        output_id = new_output_id()
        self._out(
            MarkdownOutputAdded(
                id=output_id,
                cellId=self._cell_id,
                position=self._next_position(),
                content=InlineMedia(data=text, metadata=metadata or None),
            )
        )
        self._kept += encoded_size(text)
        return output_id

    def append_markdown(self, output_id: str, delta: str, sequence: int) -> None:
        """The next piece of a markdown output (``sequence`` orders the pieces)."""
        if self._closed or not delta:
            return
        for n, piece in enumerate(split_text(delta)):
            self._out(
                MarkdownOutputAppended2(
                    id=new_output_id(),
                    outputId=output_id,
                    delta=piece,
                    sequenceNumber=sequence + n / 1000 if n else sequence,
                )
            )
        self._kept += encoded_size(delta)

    # -- agent side --------------------------------------------------------------------------

    def notice(self, kind: NoticeKind, text: str) -> None:
        """A visible notice in this cell (stderr terminal output carrying the notice metadata)."""
        self.flush()
        self._out(
            TerminalOutputAdded(
                id=new_output_id(),
                cellId=self._cell_id,
                position=self._next_position(),
                content=notice_media(kind, text),
                streamName="stderr",
            )
        )

    def _flush_soon(self) -> None:
        """A timed or size flush: like :meth:`flush`, but a tail that may be the start of a
        secret stays buffered for the next write (or a forced flush) to complete."""
        if self._holdback is None or not self._buf or self._buf_name is None:
            self.flush()
            return
        text = "".join(self._buf)
        keep = self._holdback(text)
        if keep <= 0:
            self.flush()
            return
        name = self._buf_name
        if keep < len(text):
            self._buf, self._buf_len = [text[:-keep]], len(text) - keep
            self.flush()
        else:
            self._timer = None  # the whole buffer waits: no timer until the next write
        self._buf, self._buf_len, self._buf_name = [text[-keep:]], keep, name

    def flush(self) -> None:
        """Emit buffered stream text now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buf or self._buf_name is None:
            return
        text = "".join(self._buf)
        name = self._buf_name
        self._buf, self._buf_len, self._buf_name = [], 0, None
        room = self._cap - self._kept
        if room <= 0:
            self._cut_bytes += encoded_size(text)
            return
        for piece in split_text(text):
            size = encoded_size(piece)
            if size > room:  # the cap falls here: keep what fits (up to a newline), no more
                kept = split_text(piece, room)[0] if room > 0 else ""
                if kept:
                    self._send_text(name, kept)
                    size -= encoded_size(kept)
                self._cut_bytes += size
                self._kept, room = self._cap, 0
                continue
            room -= size
            self._kept += size
            self._send_text(name, piece)

    async def drained(self) -> None:
        """Until every event of this execution was emitted (uploads included): the agent
        completes the execution only then, so the completion never overtakes an output."""
        while self._queue:
            pending = [t for t in self._queue if isinstance(t, asyncio.Task) and not t.done()]
            if pending:
                await asyncio.wait(pending)
            self._pump()

    def retarget(self, emit: Emit) -> None:
        """Send later events to ``emit`` (the agent holds the first ones back briefly)."""
        self._emit = emit

    def close(self) -> None:
        """The cell ended: flush, report any cut, then ignore late calls from the engine."""
        if self._closed:
            return
        self.flush()
        self._report_cut()
        self._closed = True

    # -- internals ---------------------------------------------------------------------------

    def _send_text(self, name: str, text: str) -> None:
        self._out(
            TerminalOutputAdded(
                id=new_output_id(),
                cellId=self._cell_id,
                position=self._next_position(),
                content=InlineMedia(data=text),
                streamName="stderr" if name == "stderr" else "stdout",
            )
        )

    def _out(self, event: RuntEvent) -> None:
        """Emit now, or after the outputs still uploading (the order is the engine's)."""
        if self._queue:
            self._queue.append(event)
        else:
            self._emit(event)

    def _pump(self) -> None:
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, asyncio.Task):
                if not head.done():
                    return
                queue.popleft()
                event = None if head.cancelled() or head.exception() else head.result()
                if event is not None:
                    self._emit(event)
            else:
                queue.popleft()
                self._emit(head)

    def _bundle_out(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        what: str,
        make: Callable[[dict[str, Media]], RuntEvent],
    ) -> bool:
        """Send a bundle as ``make(representations)``; False if a per-cell cap cut it.

        What stays inline counts against the output cap, what becomes an artifact against
        the artifact cap (each upload is bounded by the store's per-artifact limit too)."""
        size = _bundle_size(data, metadata)
        uploads = self._to_upload(data, size) if self._uploader is not None else []
        uploaded = sum(_value_bytes(data[m]) for m in uploads)
        inline = max(0, size - uploaded)
        if self._kept + inline > self._cap or self._artifact_kept + uploaded > self._artifact_cap:
            self._cut_bytes += size
            self._cut_outputs += 1
            _discard(data)
            return False
        if uploads or size <= MAX_EVENT_BYTES:
            self._kept += inline
            self._artifact_kept += uploaded
        if uploads:
            task = asyncio.get_running_loop().create_task(
                self._uploaded(data, metadata, what, uploads, make)
            )
            self._queue.append(task)
            task.add_done_callback(lambda _t: self._pump())
        elif size > MAX_EVENT_BYTES:
            dropped = self._dropped(data, size, what)
            _discard(data)
            self._kept += len(str(dropped["text/plain"].model_dump().get("data")))
            self._out(make(dropped))
        else:
            self._out(make(representations(data, metadata)))
        return True

    def _to_upload(self, data: dict[str, Any], size: int) -> list[str]:
        """The MIME types to send as artifacts: each above its threshold, then the largest
        others until what stays inline fits one event."""
        from runt_action.agents.artifacts import threshold_for

        sizes: dict[str, int] = {}
        for mime, value in data.items():
            n = _value_bytes(value)
            sizes[mime] = n * 3 // 4 if mime == "image/png" and not isinstance(value, dict) else n
        chosen = [m for m, n in sizes.items() if n > threshold_for(m) and m != "text/plain"]
        inline = size - sum(sizes[m] for m in chosen)
        for mime in sorted(sizes, key=lambda m: -sizes[m]):
            if inline <= MAX_EVENT_BYTES // 2:
                break
            if mime not in chosen:
                chosen.append(mime)
                inline -= sizes[mime]
        return chosen

    async def _uploaded(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        what: str,
        uploads: list[str],
        make: Callable[[dict[str, Media]], RuntEvent],
    ) -> RuntEvent:
        """The bundle's event once its large representations are artifacts. A failed upload
        keeps its value inline when the event still fits, else the bundle becomes the
        "dropped" notice, saying why."""
        assert self._uploader is not None
        try:
            return await self._upload_all(data, metadata, what, uploads, make)
        finally:
            _discard(data)

    async def _upload_all(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        what: str,
        uploads: list[str],
        make: Callable[[dict[str, Media]], RuntEvent],
    ) -> RuntEvent:
        from runt_action.agents.artifacts import Blob, uploaded_metadata

        assert self._uploader is not None
        reps = representations(data, metadata)
        failed: list[str] = []
        urls: list[tuple[str, str]] = []
        for mime in uploads:
            value = data[mime]
            masked: SpilledText | None = None
            try:  # a failure anywhere here is a failed upload: said, never silent
                if isinstance(value, SpilledText) and self._scrubber is not None:
                    value = masked = await asyncio.to_thread(_masked_copy, value, self._scrubber)
                elif isinstance(value, SpilledText) and self._mask is not None:
                    value = self._mask(value.read())  # a bare mask function: whole, once
                elif self._mask is not None:
                    value = self._mask(value)
                spilled = isinstance(value, SpilledText)
                blob = await asyncio.to_thread(Blob, mime, value) if spilled else Blob(mime, value)
                artifact_id = await self._uploader.upload(blob)
            except Exception as exc:  # the service is down, refused it, ...
                log.warning("could not upload the %s of a %s: %s", mime, what, exc)
                failed.append(f"{mime}: {exc}")
                continue
            finally:
                if masked is not None:
                    masked.discard()
            meta = (metadata or {}).get(mime)
            reps[mime] = ArtifactMedia(
                artifactId=artifact_id,
                metadata=uploaded_metadata(blob, meta if isinstance(meta, dict) else None),
            )
            urls.append((mime, self._uploader.url(artifact_id)))
        if failed:
            inline = {m: r for m, r in reps.items() if not isinstance(r, ArtifactMedia)}
            if any(
                isinstance(r, InlineMedia) and isinstance(r.data, SpilledText)
                for r in reps.values()
            ):
                return make(self._dropped(data, _bundle_size(data, metadata), what, failed))
            if _json_size({m: r.model_dump() for m, r in inline.items()}) > MAX_EVENT_BYTES:
                return make(self._dropped(data, _bundle_size(data, metadata), what, failed))
        if urls:
            mime, url = urls[0]
            flag = {ARTIFACT_FALLBACK: True}
            if "text/plain" not in data:
                reps["text/plain"] = InlineMedia(data=f"{mime} artifact: {url}", metadata=flag)
            if "text/markdown" not in data:
                text = f"![{mime} artifact]({url})" if mime.startswith("image/") else url
                reps["text/markdown"] = InlineMedia(data=text, metadata=flag)
        return make(reps)

    def _dropped(
        self, data: dict[str, Any], size: int, what: str, failed: list[str] | None = None
    ) -> dict[str, Media]:
        mimes = ", ".join(data) or "no data"
        text = (
            f"a {what} was dropped: {mimes} encode to {_mb(size)}, more than one sync "
            f"event may carry ({_mb(MAX_EVENT_BYTES)})"
        )
        if failed:
            text += "; the upload as an artifact failed (" + "; ".join(failed)[:500] + ")"
        return {"text/plain": notice_media(DROPPED, text)}

    def _report_cut(self) -> None:
        if not self._cut_bytes:
            return
        outputs = f" and {self._cut_outputs} rich outputs" if self._cut_outputs else ""
        text = (
            f"output truncated: {_mb(self._cut_bytes)} of output{outputs} past the "
            f"{_mb(self._cap)} per-cell cap were not kept"
        )
        self._cut_bytes = self._cut_outputs = 0
        self.notice(TRUNCATED, text)

    def _drop_buffer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buf, self._buf_len, self._buf_name = [], 0, None

    def _next_position(self) -> int:
        pos = self._position
        self._position += 1
        return pos


def _masked_copy(text: SpilledText, scrubber: Scrubber) -> SpilledText:
    """A masked copy of a spilled text beside it (masked piece by piece, never whole)."""
    import tempfile
    from pathlib import Path

    fd, name = tempfile.mkstemp(prefix="runt-masked-", dir=text.path.parent)
    chars = nbytes = 0
    with open(fd, "wb") as out:
        for piece in scrubber.stream(text.chunks()):
            data = piece.encode("utf-8", "surrogatepass")
            out.write(data)
            chars += len(piece)
            nbytes += len(data)
    return SpilledText(Path(name), chars, nbytes)


def _shrink_error(ename: str, evalue: str, traceback: list[str]) -> tuple[dict[str, Any], int]:
    """An error content that fits one event: long evalue and traceback lines cut, the last
    traceback lines (where the error is) kept first. Returns (content, characters cut)."""
    budget = MAX_EVENT_BYTES // 2
    cut = 0
    if len(evalue) > _ERROR_FIELD_CAP:
        cut += len(evalue) - _ERROR_FIELD_CAP
        evalue = evalue[:_ERROR_FIELD_CAP] + " …"
    used = encoded_size(evalue) + encoded_size(ename)
    kept: list[str] = []
    for line in reversed(traceback):
        if len(line) > _ERROR_FIELD_CAP:
            cut += len(line) - _ERROR_FIELD_CAP
            line = line[:_ERROR_FIELD_CAP] + " …"
        size = encoded_size(line) + 3
        if used + size > budget:
            cut += len(line)
            continue
        used += size
        kept.append(line)
    kept.reverse()
    return {"ename": ename, "evalue": evalue, "traceback": kept}, cut
