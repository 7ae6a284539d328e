"""Outputs too large to embed in the HTML report go to files beside it, linked from the page.

A 30 MB image or a 10 MB animation inline would make the report slow to open (and base64
makes it a third larger again), so each output gets a budget: a representation of more than
:data:`HTML_OUTPUT_BUDGET_BYTES` is written to ``<report>.files/<cell>-<n>.<ext>`` (an image
as the image file, HTML, JSON and text as themselves) and the report shows a link with its
type and size instead. The .ipynb always keeps the full data; only the page is spared. The
link is relative, so the report and its folder move together (publish both).

A restored artifact still in its file (:class:`~runt_action.blobs.BlobText`, larger than any
budget) is always linked, and copied by streaming: an image blob is the image file itself,
text is masked piece by piece on its way.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from markupsafe import Markup

from runt_action.blobs import BlobText
from runt_action.masking import Scrubber
from runt_action.results import CellOutput, CellResult, RunResult

__all__ = [
    "HTML_OUTPUT_BUDGET_BYTES",
    "linked_artifacts",
    "side_file_link",
    "spill_large_outputs",
]

HTML_OUTPUT_BUDGET_BYTES: Final = 4 * 1024 * 1024
"""Largest representation (bytes as produced, base64 for images) embedded in the report."""
SIDE_KEY: Final = "runt_action_side_file"
_EXT: Final = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "text/html": ".html",
    "application/json": ".json",
    "text/markdown": ".md",
    "text/latex": ".tex",
    "application/javascript": ".js",
}
_BINARY: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.1f} kB"


def _payload(mime: str, value: Any, scrub: Callable[[str], str]) -> bytes | None:
    if mime in _BINARY:
        text = value if isinstance(value, str) else "".join(value)
        try:
            return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
        except (binascii.Error, ValueError):
            return None
    if isinstance(value, str):
        return scrub(value).encode("utf-8", "surrogatepass")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return scrub("".join(value)).encode("utf-8", "surrogatepass")
    return scrub(json.dumps(value, ensure_ascii=False)).encode("utf-8", "surrogatepass")


def _stream_to(target: Path, mime: str, blob: BlobText, scrub: Callable[[str], str]) -> int:
    """Write ``blob`` as its side file without reading it whole; the bytes written."""
    if mime in _BINARY and blob.encoding == "base64":
        blob.copy_to(target)
        return blob.nbytes
    owner = getattr(scrub, "__self__", None)  # scrubber.text: mask across piece boundaries
    pieces = (
        owner.stream(blob.chunks()) if isinstance(owner, Scrubber) else map(scrub, blob.chunks())
    )
    size = 0
    with target.open("wb") as f:
        for piece in pieces:
            data = piece.encode("utf-8", "surrogatepass")
            f.write(data)
            size += len(data)
    return size


def _value_size(value: Any) -> int:
    if isinstance(value, BlobText):
        return value.size
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sum(len(v) for v in value)
    return len(json.dumps(value))


def _spilled(
    out: CellOutput, stem: str, folder: Path, budget: int, scrub: Callable[[str], str]
) -> CellOutput:
    big = [
        m
        for m, v in out.data.items()
        if isinstance(v, BlobText) or (m != "text/plain" and _value_size(v) > budget)
    ]
    if not big:
        return out
    links: list[dict[str, Any]] = []
    for mime in big:
        value = out.data[mime]
        if isinstance(value, BlobText):
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{stem}{_EXT.get(mime, '.txt')}"
            size = _stream_to(folder / name, mime, value, scrub)
            links.append({"mime": mime, "size": size, "href": f"{folder.name}/{name}"})
            continue
        payload = _payload(mime, value, scrub)
        if payload is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{stem}{_EXT.get(mime, '.txt')}"
        (folder / name).write_bytes(payload)
        links.append({"mime": mime, "size": len(payload), "href": f"{folder.name}/{name}"})
    if not links:
        return out
    data = {"text/plain": out.data.get("text/plain", "")}
    meta = dict(out.metadata)
    meta[SIDE_KEY] = links
    return replace(out, data=data, metadata=meta, artifacts={})


def spill_large_outputs(
    result: RunResult,
    report: Path,
    *,
    budget: int = HTML_OUTPUT_BUDGET_BYTES,
    scrub: Callable[[str], str] = str,
) -> RunResult:
    """``result`` with every representation over ``budget`` written beside ``report`` and
    replaced by a link; the same object when nothing is that large (checkpoints pay nothing)."""
    folder = report.with_name(report.name.removesuffix(".html") + ".files")
    changed = False
    cells: list[CellResult] = []
    for cell in result.cells:
        outs: list[CellOutput] = []
        for n, out in enumerate(cell.outputs):
            safe = re.sub(r"[^A-Za-z0-9_-]", "_", cell.id)[:60]
            new = _spilled(out, f"{safe}-{n}", folder, budget, scrub) if out.data else out
            changed = changed or new is not out
            outs.append(new)
        same = all(a is b for a, b in zip(outs, cell.outputs, strict=True))
        cells.append(cell if same else replace(cell, outputs=outs))
    return replace(result, cells=cells) if changed else result


def linked_artifacts(cell: CellResult, href_of: Callable[[str], str]) -> CellResult:
    """``cell`` with each output still holding artifact references (the live page reads the
    store as it is, before anything is restored) shown from ``href_of(artifact_id)``: an
    image as an image, HTML in a sandboxed frame, anything else as a link."""
    if not any(out.artifacts for out in cell.outputs):
        return cell
    outs: list[CellOutput] = []
    for out in cell.outputs:
        refs = [(m, r) for m, r in out.artifacts.items() if "artifactId" in r]
        if not refs:
            outs.append(out)
            continue
        links = []
        for mime, ref in refs:
            size = (ref.get("metadata") or {}).get("originalSizeBytes")
            href = href_of(str(ref["artifactId"]))
            links.append({"mime": mime, "size": size or 0, "href": href, "show": True})
        meta = dict(out.metadata)
        meta[SIDE_KEY] = links
        data = {"text/plain": out.data.get("text/plain", "")}
        outs.append(replace(out, data=data, metadata=meta, artifacts={}))
    return replace(cell, outputs=outs)


def _shown(link: dict[str, Any]) -> Markup:
    """An artifact the page loads from the server: the image, or the HTML in a frame that
    may run nothing (the server sends it with a sandbox policy too)."""
    if not link.get("show"):
        return Markup("")
    if str(link["mime"]).startswith("image/"):
        return Markup('<img class="image" alt="{mime}" src="{href}">').format(**link)
    if link["mime"] == "text/html":
        return Markup(
            '<iframe class="html-output" sandbox="" referrerpolicy="no-referrer" '
            'title="HTML output" style="height:480px" src="{href}"></iframe>'
        ).format(**link)
    return Markup("")


def side_file_link(output: CellOutput) -> Markup | None:
    """The report's HTML for an output whose data went to side files, else None."""
    links = output.metadata.get(SIDE_KEY) if output.metadata else None
    if not isinstance(links, list) or not links:
        return None
    items = Markup("").join(
        _shown(link)
        + Markup('<p class="out-side-file"><a href="{href}">{mime}, {size}</a></p>').format(
            href=link["href"], mime=link["mime"], size=_size(int(link["size"]))
        )
        for link in links
    )
    note = Markup(
        '<p class="out-note">too large to embed in this page (over {budget}): opened from '
        "the file beside it</p>"
    ).format(budget=_size(HTML_OUTPUT_BUDGET_BYTES))
    if all(link.get("show") for link in links):
        note = Markup('<p class="out-note">loaded from the sync server as an artifact</p>')
    return Markup('<div class="out {kind}">{items}{note}</div>').format(
        kind=output.output_type, items=items, note=note
    )
