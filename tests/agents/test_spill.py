"""loads_spilling equals json.loads once the spilled strings are read back: escapes, non-ASCII
text, surrogate pairs, and every piece boundary (tiny pieces cut everywhere)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.spill import SpilledText, loads_spilling

_TRICKY = [
    "plain ascii text",
    'quotes " and \\ backslashes \\\\" end',
    "newlines\n\ttabs\r\x00\x01\x1f controls",
    "é ü ñ — “curly” 中文 日本語",
    "emoji 😀🎉👍🏽 pairs",
    "lone \ud83d high and \ude00 low surrogates",
    "\\u0041 not an escape, \\\\u0041 neither",
    "/slashes/ and \u2028\u2029 separators",
    "",
]


def _read_back(value: Any, found: list[SpilledText]) -> Any:
    if isinstance(value, SpilledText):
        found.append(value)
        return value.read()
    if isinstance(value, dict):
        return {k: _read_back(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_read_back(v, found) for v in value]
    return value


def _check(value: Any, tmp_path: Path, *, threshold: int, piece: int) -> list[SpilledText]:
    for ascii_only in (True, False):
        try:
            frame = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
        except UnicodeEncodeError:
            continue  # raw lone surrogates are not UTF-8: no kernel sends them unescaped
        got = loads_spilling(frame, directory=tmp_path, threshold=threshold, piece=piece)
        found: list[SpilledText] = []
        assert _read_back(got, found) == json.loads(frame)
        for text in found:
            assert text.chars == len(text.read())
            assert text.nbytes == text.path.stat().st_size
            assert "".join(text.chunks(7)) == text.read()
            text.discard()
    return found


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 6, 7, 11, 64, 1000])
def test_every_tricky_string_survives_every_cut(tmp_path: Path, piece: int) -> None:
    for text in _TRICKY:
        value = {"data": {"text/html": text * 5, "text/plain": "x"}, "n": [1, 2.5, None]}
        _check(value, tmp_path, threshold=4, piece=piece)
    assert list(tmp_path.iterdir()) == []  # every file was the caller's, and discarded


def test_random_documents_equal_json_loads(tmp_path: Path) -> None:
    rng = random.Random(23)
    alphabet = [*'ab"\\/\n\t\x00é中😀', "\ud83d", "\ude00", "\\u"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))

    def value(depth: int) -> Any:
        kind = rng.randrange(7 if depth < 3 else 4)
        if kind == 0:
            return text()
        if kind == 1:
            return rng.choice([0, -3, 1.5e300, True, False, None])
        if kind in (2, 3):
            return text() * 3
        if kind in (4, 5):
            return {text(): value(depth + 1) for _ in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(200):
        _check(value(0), tmp_path, threshold=rng.randrange(0, 40), piece=rng.randrange(1, 30))


def test_large_values_spill_and_keys_and_small_values_do_not(tmp_path: Path) -> None:
    big = '<img src="data:image/png;base64,AAAA">\n' * 1000
    key = "k" * 500
    frame = json.dumps({"data": {"text/html": big, "text/plain": "<HTML>"}, key: 1}).encode()
    got = loads_spilling(frame, directory=tmp_path, threshold=100, piece=4096)
    spilled = got["data"]["text/html"]
    assert isinstance(spilled, SpilledText)
    assert spilled.read() == big and spilled.chars == len(big)
    assert got["data"]["text/plain"] == "<HTML>" and got[key] == 1
    spilled.discard()


def test_a_broken_frame_raises_and_leaves_no_file(tmp_path: Path) -> None:
    frame = b'{"a": "' + b"x" * 100 + b'", "b": "unterminated'
    with pytest.raises(ValueError):
        loads_spilling(frame, directory=tmp_path, threshold=10)
    assert list(tmp_path.iterdir()) == []


def test_a_message_nobody_consumes_leaves_no_file(tmp_path: Path) -> None:
    from runt_action.agents.spill import discard_spilled

    frame = json.dumps({"data": {"a": "x" * 50, "b": ["y" * 50, {"c": "z" * 50}]}}).encode()
    got = loads_spilling(frame, directory=tmp_path, threshold=10)
    assert len(list(tmp_path.iterdir())) == 3
    discard_spilled(got)
    assert list(tmp_path.iterdir()) == []
