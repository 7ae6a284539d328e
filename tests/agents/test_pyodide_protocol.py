"""The Pyodide engine's Sans-I/O parts: bridge protocol framing and routing, mount specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide.mounts import default_target, parse_mounts
from runt_action.agents.pyodide.protocol import (
    LineSplitter,
    Mount,
    deliver,
    encode,
    outcome_of,
)
from runt_action.errors import UsageError


class Record:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def stream(self, name: str, text: str) -> None:
        self.calls.append(("stream", name, text))

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        self.calls.append(("display", data, metadata, display_id, update))

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.calls.append(("result", data, metadata))

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.calls.append(("error", ename, evalue, traceback))

    def clear(self, wait: bool = False) -> None:
        self.calls.append(("clear", wait))


def test_encode_is_one_json_line() -> None:
    line = encode("exec", id=3, code="print('a\\nb')\n")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"op": "exec", "id": 3, "code": "print('a\\nb')\n"}


def test_splitter_waits_for_whole_lines_and_skips_noise() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"ev":"stream","te') == []
    assert splitter.feed(b'xt":"\xc3') == []
    events = splitter.feed(b'\xa9"}\n\nnot json\n[1]\n{"ev":"done"}\n{"ev"')
    assert events == [{"ev": "stream", "text": "é"}, {"ev": "done"}]
    assert splitter.feed(b':"ready"}\n') == [{"ev": "ready"}]


def test_splitter_reassembles_a_line_of_many_reads() -> None:
    text = "B" * 5_000_000
    data = encode("x", text=text) + encode("y")
    splitter = LineSplitter()
    events = []
    for i in range(0, len(data), 1 << 16):
        events += splitter.feed(data[i : i + (1 << 16)])
    assert events == [{"op": "x", "text": text}, {"op": "y"}]
    assert splitter.feed(b"") == []


def test_a_long_display_line_spills_its_bundle_values_only() -> None:
    """A display's large MIME values reach the sink as files (agents/spill.py); a large
    string anywhere else (metadata, a print) is read back as a str."""
    from runt_action.agents.spill import SPILL_THRESHOLD_BYTES, SpilledText

    html = '<p>"é😀\\n</p>' * (SPILL_THRESHOLD_BYTES // 8)
    note = "m" * (SPILL_THRESHOLD_BYTES + 1)
    line = (
        json.dumps(
            {
                "ev": "display",
                "data": {"text/html": html, "text/plain": "t"},
                "metadata": {"n": note},
            }
        ).encode()
        + b"\n"
    )
    splitter = LineSplitter()
    events = []
    for i in range(0, len(line), 1 << 16):
        events += splitter.feed(line[i : i + (1 << 16)])
    [event] = events
    spilled = event["data"]["text/html"]
    assert isinstance(spilled, SpilledText) and spilled.read() == html
    assert event["metadata"] == {"n": note} and event["data"]["text/plain"] == "t"
    spilled.discard()
    assert list(spilled.path.parent.iterdir()) == []


def test_deliver_routes_each_kind() -> None:
    sink = Record()
    deliver({"ev": "stream", "name": "stderr", "text": "oops"}, sink)
    deliver(
        {"ev": "display", "data": {"text/plain": "1"}, "display_id": "d1", "update": True}, sink
    )
    deliver({"ev": "result", "data": {"text/plain": "2"}, "metadata": {"x": 1}}, sink)
    deliver({"ev": "error", "ename": "E", "evalue": "v", "traceback": ["a", "b"]}, sink)
    deliver({"ev": "clear", "wait": True}, sink)
    deliver({"ev": "done", "status": "ok"}, sink)  # not an output
    assert sink.calls == [
        ("stream", "stderr", "oops"),
        ("display", {"text/plain": "1"}, None, "d1", True),
        ("result", {"text/plain": "2"}, {"x": 1}),
        ("error", "E", "v", ["a", "b"]),
        ("clear", True),
    ]


@pytest.mark.parametrize(
    ("event", "status", "count"),
    [
        ({"status": "ok", "execution_count": 4}, ExecStatus.OK, 4),
        ({"status": "interrupted", "execution_count": 5}, ExecStatus.INTERRUPTED, 5),
        ({"status": "weird", "execution_count": None}, ExecStatus.ERROR, None),
    ],
)
def test_outcome_of_done(event: dict[str, Any], status: ExecStatus, count: int | None) -> None:
    outcome = outcome_of({"ev": "done", **event})
    assert (outcome.status, outcome.execution_count) == (status, count)


def test_default_mount_target_is_the_host_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same absolute path on both runtimes (the native kernel sees host paths)."""
    assert default_target("/tmp/runt-demo-data") == "/tmp/runt-demo-data"
    monkeypatch.chdir(tmp_path)
    assert default_target("./data") == str(tmp_path.resolve() / "data")


def test_parse_mounts(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    host = str(tmp_path / "d")
    assert parse_mounts([host, f"{host}:/data/"], readonly=True) == [
        Mount(host, default_target(host), True),
        Mount(host, "/data", True),
    ]
    with pytest.raises(UsageError, match="not a directory"):
        parse_mounts([str(tmp_path / "missing")])
    with pytest.raises(UsageError, match="absolute"):
        parse_mounts([f"{host}:relative"])
