"""Outputs as text, for places that can only show text (job summary, terminal, log).

An image becomes a short placeholder such as ``[image/png 800x400]`` (written with a
multiplication sign; the size read from the image's own header, else its byte size), a
DataFrame its ``text/plain`` form, HTML without a text form a placeholder that says how big it
was. Nothing is dropped without saying so.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from typing import Any

from runt_action.blobs import BlobText
from runt_action.results import CellOutput

__all__ = ["human_bytes", "image_placeholder", "image_size", "output_as_text"]

_IMAGE_ORDER = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def human_bytes(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def _joined(value: Any) -> str:
    if isinstance(value, BlobText):  # a large restored artifact: only text shown whole
        return value.read()
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _decode(value: Any, limit: int | None = None) -> bytes:
    """Base64 image data (maybe split in lines) to bytes; ``limit`` decodes only a prefix."""
    if isinstance(value, BlobText):  # read no more of a large restored image than needed
        if value.encoding == "base64":
            return value.head(limit if limit is not None else value.nbytes)
        value = next(value.chunks(max(1024, (limit or value.nbytes) * 2)), "")
    text = "".join(_joined(value).split())
    if limit is not None:
        text = text[: (limit + 2) // 3 * 4]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    return None


def _gif_size(head: bytes) -> tuple[int, int] | None:
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def image_size(mime: str, value: Any) -> tuple[int, int] | None:
    """Pixel size from the header of a base64 PNG, GIF or JPEG; ``None`` if unknown."""
    if mime == "image/png":
        return _png_size(_decode(value, 24))
    if mime == "image/gif":
        return _gif_size(_decode(value, 10))
    if mime == "image/jpeg":
        return _jpeg_size(_decode(value, 256 * 1024))
    return None


def _data_bytes(mime: str, value: Any) -> int:
    if isinstance(value, BlobText):
        return value.nbytes if value.encoding == "base64" else value.size
    if mime == "image/svg+xml":
        return len(_joined(value).encode())
    return len(_decode(value))


def image_placeholder(mime: str, value: Any) -> str:
    """``[image/png 800x400]`` (multiplication sign), else ``[image/svg+xml 3.1 kB]``."""
    size = image_size(mime, value)
    if size is not None:
        return f"[{mime} {size[0]}\u00d7{size[1]}]"
    return f"[{mime} {human_bytes(_data_bytes(mime, value))}]"


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def output_as_text(output: CellOutput) -> str:
    """The text a reader sees for one output (ends with a newline unless empty)."""
    if output.output_type == "stream":
        return output.text or ""
    if output.output_type == "error":
        if output.traceback:
            return "\n".join(output.traceback) + "\n"
        return f"{output.ename or 'Error'}: {output.evalue or ''}\n"
    data = output.data if isinstance(output.data, dict) else {}
    for mime in _IMAGE_ORDER:
        if mime in data:
            return image_placeholder(mime, data[mime]) + "\n"
    other_images = sorted(m for m in data if isinstance(m, str) and m.startswith("image/"))
    if other_images:
        return image_placeholder(other_images[0], data[other_images[0]]) + "\n"
    for mime in ("text/plain", "text/markdown", "text/latex"):
        if mime in data:
            return _with_newline(_joined(data[mime]))
    if "application/json" in data:
        return _with_newline(json.dumps(data["application/json"], ensure_ascii=False))
    if data:
        mime = sorted(str(m) for m in data)[0]
        value = data[mime]
        size = value.size if isinstance(value, BlobText) else len(_joined(value).encode())
        return f"[{mime} {human_bytes(size)}]\n"
    return f"[{output.output_type}: no data]\n"
