from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from runt_action.report.media import image_placeholder, output_as_text
from runt_action.results import CellOutput

TIMES = "\u00d7"  # the multiplication sign in image placeholders


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def real_png(width: int, height: int) -> str:
    """A complete, valid RGB PNG (what matplotlib would send), base64 as in a MIME bundle."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
    return base64.encodebytes(png).decode()  # with line breaks, as some kernels send it


def test_png_size_from_its_header() -> None:
    assert image_placeholder("image/png", real_png(800, 400)) == f"[image/png 800{TIMES}400]"
    assert image_placeholder("image/png", [real_png(3, 2)]) == f"[image/png 3{TIMES}2]"  # list form


def test_gif_and_jpeg_sizes() -> None:
    gif = base64.b64encode(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\0" * 20).decode()
    assert image_placeholder("image/gif", gif) == f"[image/gif 640{TIMES}480]"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9
    sof0 = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 300, 1024) + b"\0" * 10
    jpeg = base64.b64encode(b"\xff\xd8" + app0 + sof0 + b"\xff\xd9").decode()
    assert image_placeholder("image/jpeg", jpeg) == f"[image/jpeg 1024{TIMES}300]"


def test_unknown_sizes_fall_back_to_bytes() -> None:
    garbage = base64.b64encode(b"not a png at all" * 100).decode()
    assert image_placeholder("image/png", garbage) == "[image/png 1.6 kB]"
    assert image_placeholder("image/png", "!!!not base64") == "[image/png 0 B]"
    assert image_placeholder("image/svg+xml", "<svg/>") == "[image/svg+xml 6 B]"


def test_rich_outputs_as_text() -> None:
    figure = CellOutput(
        "display_data",
        data={"image/png": real_png(8, 4), "text/plain": "<Figure size 800x400 with 1 Axes>"},
    )
    assert output_as_text(figure) == f"[image/png 8{TIMES}4]\n"
    frame = CellOutput(
        "execute_result", data={"text/html": "<table>…</table>", "text/plain": ["   a\n", "0  1"]}
    )
    assert output_as_text(frame) == "   a\n0  1\n"
    html_only = CellOutput("display_data", data={"text/html": "<b>x</b>"})
    assert output_as_text(html_only) == "[text/html 8 B]\n"
    assert output_as_text(CellOutput("display_data", data={"application/json": {"a": 1}})) == (
        '{"a": 1}\n'
    )
    assert output_as_text(CellOutput("display_data")) == "[display_data: no data]\n"


def test_a_restored_blob_is_a_placeholder_read_from_its_header(tmp_path: Any) -> None:
    """A large artifact restored as a file (BlobText) is described from its first bytes,
    never read whole: an image by its pixel size, HTML by its size."""
    from runt_action.blobs import BlobText

    png = tmp_path / "png"
    png.write_bytes(base64.b64decode(real_png(640, 480)))
    html = tmp_path / "html"
    html.write_bytes(b"<p>" * 1000)
    image = CellOutput("display_data", data={"image/png": BlobText(png, "base64", 10)})
    page = CellOutput("display_data", data={"text/html": BlobText(html, "utf-8", 3000)})
    assert output_as_text(image) == f"[image/png 640{TIMES}480]\n"
    assert output_as_text(page) == "[text/html 3.0 kB]\n"
