"""BlobText: a restored artifact's value read back from its file in whole pieces (base64 in
whole quads, text never split inside a character), its file gone with the last reference."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from runt_action.blobs import BlobText


def _blob(tmp_path: Path, data: bytes, encoding: str) -> BlobText:
    path = tmp_path / f"blob-{len(list(tmp_path.iterdir()))}"
    path.write_bytes(data)
    return BlobText(path, encoding, len(data))


def test_blob_text_reads_back_in_whole_pieces(tmp_path: Path) -> None:
    raw = os.urandom(100_000)
    blob = _blob(tmp_path, raw, "base64")
    for size in (3, 4, 1000, 3 * 1024):
        assert "".join(blob.chunks(size)) == base64.b64encode(raw).decode()
    text = "é😀 x" * 10_000
    blob = _blob(tmp_path, text.encode(), "utf-8")
    assert all("".join(blob.chunks(size)) == text for size in (1, 5, 4096))
    assert blob.size == len(text.encode()) and blob.head(2) == "é".encode()
    path = blob.path
    del blob
    assert not path.exists()  # the file goes with the last reference
