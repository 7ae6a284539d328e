"""EventSink: runt output events, positions and stream coalescing (no store needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from runt_action.agents.sink import (
    CHUNK_BYTES,
    MAX_EVENT_BYTES,
    EventSink,
    encoded_size,
    representations,
    split_text,
)
from runt_action.livestore.protocol import MAX_INBOUND_FRAME_BYTES, dumps, frame_bytes
from runt_action.masking import Scrubber
from runt_action.schema.events import decode
from runt_action.schema.notices import notice_of

Events = list[tuple[str, dict[str, Any]]]


def make(events: Events, **kw: Any) -> EventSink:
    return EventSink(
        lambda e: events.append(e.wire()),
        cell_id="c1",
        execution_count=7,
        cleared_by="runtime-x",
        **kw,
    )


async def test_burst_of_writes_is_one_event_flushed_by_close() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600)
    for i in range(1000):
        sink.stream("stdout", f"{i}\n")
    assert events == []
    sink.close()
    [(name, args)] = events
    assert name == "v1.TerminalOutputAdded"
    assert args["content"] == {"type": "inline", "data": "".join(f"{i}\n" for i in range(1000))}
    assert (args["cellId"], args["position"], args["streamName"]) == ("c1", 0, "stdout")
    sink.stream("stdout", "late")  # after the end of the cell: ignored
    assert len(events) == 1


async def test_timer_flushes_while_the_cell_runs() -> None:
    events: Events = []
    sink = make(events, flush_delay=0.01)
    sink.stream("stdout", "a")
    sink.stream("stdout", "b")
    await asyncio.sleep(0.05)
    assert [a["content"]["data"] for _, a in events] == ["ab"]
    sink.close()
    assert len(events) == 1


async def test_size_limit_and_stream_switch_flush_in_order() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600, flush_bytes=10)
    sink.stream("stdout", "12345")
    sink.stream("stderr", "e")
    sink.stream("stdout", "x" * 10)
    sink.stream("stdout", "tail")
    sink.close()
    got = [(a["streamName"], a["content"]["data"], a["position"]) for _, a in events]
    assert got == [
        ("stdout", "12345", 0),
        ("stderr", "e", 1),
        ("stdout", "x" * 10, 2),
        ("stdout", "tail", 3),
    ]


async def test_rich_outputs_positions_and_clear_reset() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600)
    sink.stream("stdout", "before")
    sink.display({"text/plain": "d", "image/png": "AAA"}, {"image/png": {"width": 3}}, "disp")
    sink.display({"text/plain": "d2"}, None, "disp", update=True)
    sink.display({"text/plain": "anon"}, None, None, update=True)  # no id: becomes an Added
    sink.result({"text/plain": "42"})
    sink.clear(wait=False)
    sink.error("ValueError", "bad", ["tb1", "ValueError: bad"])
    sink.clear(wait=True)
    sink.stream("stderr", "after")
    sink.close()
    names = [n for n, _ in events]
    assert names == [
        "v1.TerminalOutputAdded",
        "v1.MultimediaDisplayOutputAdded",
        "v1.MultimediaDisplayOutputUpdated",
        "v1.MultimediaDisplayOutputAdded",
        "v1.MultimediaResultOutputAdded",
        "v1.CellOutputsCleared",
        "v1.ErrorOutputAdded",
        "v1.CellOutputsCleared",
        "v1.TerminalOutputAdded",
    ]
    positions = [a.get("position") for _, a in events]
    assert positions == [0, 1, None, 2, 3, None, 0, None, 1]
    disp = events[1][1]
    assert disp["displayId"] == "disp"
    assert disp["representations"]["image/png"] == {
        "type": "inline",
        "data": "AAA",
        "metadata": {"width": 3},
    }
    assert events[2][1] == {
        "displayId": "disp",
        "representations": {"text/plain": {"type": "inline", "data": "d2"}},
    }
    assert events[4][1]["executionCount"] == 7
    assert events[5][1] == {"cellId": "c1", "wait": False, "clearedBy": "runtime-x"}
    assert events[6][1]["content"]["data"] == {
        "ename": "ValueError",
        "evalue": "bad",
        "traceback": ["tb1", "ValueError: bad"],
    }
    assert events[7][1]["wait"] is True
    assert sink.last_error == ("ValueError", "bad")
    ids = [a["id"] for _, a in events if "id" in a]
    assert len(ids) == len(set(ids))


async def test_every_event_decodes_with_the_schema_models() -> None:
    from runt_action.schema.events import decode

    events: Events = []
    sink = make(events, flush_delay=3600)
    sink.stream("stdout", "x")
    sink.display({"text/plain": "d"}, None, "i")
    sink.display({"text/plain": "d"}, None, "i", update=True)
    sink.result({"text/plain": "1", "application/json": {"a": [1]}})
    sink.error("E", "v", [])
    sink.clear(wait=True)
    sink.close()
    for name, args in events:
        model = decode(name, args)
        assert model is not None, name
        assert model.wire() == (name, args)


def test_representations_adds_a_text_fallback() -> None:
    reps = representations({"text/html": "<b>x</b>"})
    assert {m: r.model_dump(exclude_none=True) for m, r in reps.items()} == {
        "text/html": {"type": "inline", "data": "<b>x</b>"},
        "text/plain": {"type": "inline", "data": "<text/html output>"},
    }


def _fits(events: Events) -> None:
    for name, args in events:
        assert frame_bytes(dumps(args)) <= MAX_EVENT_BYTES < MAX_INBOUND_FRAME_BYTES, name
        model = decode(name, args)
        assert model is not None and model.wire() == (name, args)


def _terminal_text(events: Events, stream: str = "stdout") -> str:
    return "".join(
        a["content"]["data"]
        for n, a in events
        if n == "v1.TerminalOutputAdded" and a["streamName"] == stream
    )


async def test_big_stream_text_is_split_in_order_on_line_boundaries() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600)
    lines = [f"{i:07d} " + "a" * 92 + "\n" for i in range(50_000)]  # 5 MB
    for line in lines:
        sink.stream("stdout", line)
    sink.close()
    _fits(events)
    assert _terminal_text(events) == "".join(lines)
    chunks = [a["content"]["data"] for _, a in events]
    assert all(c.endswith("\n") for c in chunks)
    assert [a["position"] for _, a in events] == list(range(len(events)))


async def test_a_single_huge_line_survives_split_across_events() -> None:
    events: Events = []
    sink = make(events)
    sink.stream("stdout", "B" * 3_000_000)
    sink.close()
    _fits(events)
    assert len(events) >= 3_000_000 // CHUNK_BYTES
    assert _terminal_text(events) == "B" * 3_000_000


def test_split_text_counts_encoded_bytes_and_keeps_characters_whole() -> None:
    text = ("\x01" * 1000 + "é€😀" * 1000 + "\ud83d\ude00") * 50  # escapes, 2-4 byte chars
    pieces = split_text(text, 4096)
    assert "".join(pieces) == text
    assert all(encoded_size(p) <= 4096 for p in pieces)
    assert all(not ("\ud800" <= p[-1] <= "\udbff") for p in pieces[:-1])
    assert split_text("ab\ncd\nef", 8) == ["ab\ncd\n", "ef"]  # "\\n" is 2 bytes in JSON
    assert split_text("", 10) == []


async def test_an_oversized_display_and_result_become_visible_placeholders() -> None:
    events: Events = []
    sink = make(events)
    png = "iVBORw0KGgo" * 200_000  # 2.2 MB of base64
    sink.display({"image/png": png, "text/plain": "<Figure>"}, None, "fig")
    sink.result({"text/plain": "'" + "x" * 5_000_000 + "'"})
    sink.display({"image/png": png}, None, "fig", update=True)
    sink.close()
    _fits(events)
    names = [n for n, _ in events]
    assert names == [
        "v1.MultimediaDisplayOutputAdded",
        "v1.MultimediaResultOutputAdded",
        "v1.MultimediaDisplayOutputUpdated",
    ]
    for _, args in events:
        [(mime, media)] = args["representations"].items()
        assert mime == "text/plain"
        kind, text = notice_of(media) or ("", "")
        assert kind == "dropped"
        assert media["data"] == f"[runt-action] {text}\n"
        assert "MiB" in text and "sync event" in text
    assert "image/png" in notice_of(events[0][1]["representations"]["text/plain"])[1]  # type: ignore[index]
    assert events[0][1]["displayId"] == "fig" and events[1][1]["executionCount"] == 7


async def test_an_oversized_error_is_cut_to_fit_and_says_so() -> None:
    events: Events = []
    sink = make(events)
    sink.error("ValueError", "v" * 3_000_000, [f"frame {i} " + "t" * 1000 for i in range(3000)])
    sink.close()
    _fits(events)
    (n1, err), (n2, note) = events
    assert n1 == "v1.ErrorOutputAdded" and n2 == "v1.TerminalOutputAdded"
    data = err["content"]["data"]
    assert data["ename"] == "ValueError" and data["evalue"].startswith("vvv")
    assert data["traceback"][-1].startswith("frame 2999 ")  # the end of a traceback is kept
    assert notice_of(note["content"])[0] == "truncated"  # type: ignore[index]
    assert note["streamName"] == "stderr" and note["position"] == 1


async def test_the_per_cell_cap_truncates_with_one_marker_at_the_end() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600, flush_bytes=100, output_cap=1000)
    for i in range(100):
        sink.stream("stdout", f"{i:04d}" + "z" * 45 + "\n")  # 50 bytes a line
    sink.display({"text/plain": "late"}, None, None)
    sink.close()
    _fits(events)
    text = _terminal_text(events)
    # 51 encoded bytes a line ("\\n" is two): 19 whole lines fit the 1000-byte cap
    assert text == "".join(f"{i:04d}" + "z" * 45 + "\n" for i in range(19))
    *_, (name, last) = events
    assert name == "v1.TerminalOutputAdded"
    kind, notice = notice_of(last["content"]) or ("", "")
    assert kind == "truncated"
    assert " KiB of output and 1 rich outputs past the " in notice and "per-cell cap" in notice
    assert last["content"]["data"] == f"[runt-action] {notice}\n"


async def test_a_clear_restarts_the_cap() -> None:
    events: Events = []
    sink = make(events, flush_delay=3600, flush_bytes=1, output_cap=100)
    for _ in range(10):
        sink.clear(wait=True)
        sink.stream("stdout", "p" * 90)
    sink.close()
    assert _terminal_text(events) == "p" * 900
    assert all(notice_of(a.get("content") or {}) is None for _, a in events)


async def test_a_tail_that_begins_a_secret_waits_for_the_next_write() -> None:
    """Flushes by size or time keep back the start of a secret until the next write, so the
    agent's masking sees the secret whole; forced flushes (another stream, close) keep the
    order."""
    events: Events = []
    holdback = Scrubber(["SECRET"]).partial_tail
    sink = make(events, flush_bytes=1, flush_delay=0.01, holdback=holdback)
    texts = lambda: [(a["streamName"], a["content"]["data"]) for _, a in events]  # noqa: E731
    sink.stream("stdout", "key=SEC")
    assert texts() == [("stdout", "key=")]
    sink.stream("stdout", "RET!\n")
    assert texts()[-1] == ("stdout", "SECRET!\n")
    sink.stream("stdout", "then SE")
    assert texts()[-1] == ("stdout", "then ")
    sink.stream("stderr", "err")  # another stream: the held tail goes first
    assert texts()[-2:] == [("stdout", "SE"), ("stderr", "err")]
    sink = make(events, flush_bytes=1 << 20, flush_delay=0.01, holdback=holdback)
    sink.stream("stdout", "last S")
    await asyncio.sleep(0.1)  # the timed flush sent "last " and holds "S" for the next write
    assert texts()[-1] == ("stdout", "last ")
    sink.stream("stdout", "ECRET end")
    await asyncio.sleep(0.1)
    assert texts()[-1] == ("stdout", "SECRET end")
    sink.stream("stdout", "end SECR")
    await asyncio.sleep(0.1)
    assert texts()[-1] == ("stdout", "end ")
    sink.close()  # the end of the cell lets every held tail go
    assert texts()[-1] == ("stdout", "SECR")


def test_partial_tail_is_the_longest_start_of_any_spelling() -> None:
    scrub = Scrubber(['se"cret'])
    assert scrub.partial_tail("abc") == 0
    assert scrub.partial_tail("x se") == 2
    assert scrub.partial_tail('x se"cre') == 6
    assert scrub.partial_tail("x se&#34;c") == 8  # jinja's spelling
    assert scrub.partial_tail('se"cret') == 0  # complete: masked as it is, nothing held
