"""A large restored value (BlobText) is written into the .ipynb streamed from its file, byte
for byte what the whole-string writer (and nbformat) writes: line splitting across pieces
(``\\r\\n`` cut in two, Unicode line breaks, no final newline), escapes, non-ASCII text."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runt_action.blobs import BlobText
from runt_action.report.ipynb import notebook_json, write_notebook
from runt_action.report.streamed_json import encode_lines, encode_string
from runt_action.results import CellOutput
from tests.report.conftest import make_cell, make_result

_TEXTS = [
    "line one\nline two\r\nthree\rfour\x0bfive\x0csix\x1c\x1d\x1e\x85\u2028\u2029seven",
    'quotes " backslash \\ tab \t nul \x00 é 中 😀 </script>\n\n\n',
    "\r\n\r\n\r\r\n\n",
    "no newline at all",
    "ends with cr\r",
]


def _cuts(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_pieces_encode_as_json_encodes_the_whole(size: int) -> None:
    for text in _TEXTS:
        pieces = _cuts(text, size)
        assert "".join(encode_string(pieces)) == json.dumps(text, ensure_ascii=False)
        items = "".join(encode_lines(pieces, ", "))
        assert "[" + items + "]" == json.dumps(text.splitlines(True), ensure_ascii=False)


class _SmallPieces(BlobText):
    """Read in 7 KiB pieces: many piece boundaries (a \\r\\n among them)."""

    def chunks(self, size: int = 7 * 1024) -> Iterator[str]:
        return super().chunks(size)


def _blob(tmp_path: Path, data: bytes, encoding: str) -> BlobText:
    path = tmp_path / f"blob-{len(list(tmp_path.iterdir()))}"
    path.write_bytes(data)
    return _SmallPieces(path, encoding, len(data))


def _result(data: dict[str, Any]) -> Any:
    out = CellOutput("display_data", data=data)
    return make_result([make_cell("a", outputs=[out]), make_cell("b")])


def test_a_notebook_with_blob_values_is_byte_identical(tmp_path: Path) -> None:
    html = "".join(f'<img id="f{i}" src="data:,{"x" * 300}">\r\n' for i in range(4000)) + "é😀"
    png = os.urandom(300_000)
    blobs = {
        "text/html": _blob(tmp_path, html.encode(), "utf-8"),
        "image/png": _blob(tmp_path, png, "base64"),
        "application/x-thing": _blob(tmp_path, b'{"not": "split"}\n' * 1000, "utf-8"),
        "text/plain": "<animation>",
    }
    whole = {
        "text/html": html,
        "image/png": base64.b64encode(png).decode(),
        "application/x-thing": '{"not": "split"}\n' * 1000,
        "text/plain": "<animation>",
    }
    expected = notebook_json(_result(whole))
    assert notebook_json(_result(blobs)) == expected
    path = tmp_path / "out.ipynb"
    write_notebook(path, _result(blobs))
    assert path.read_text(encoding="utf-8") == notebook_json(_result(whole), output_path=path)
