"""EventSink: runt output events, positions and stream coalescing (no store needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from runt_action.agents.sink import EventSink, representations

Events = list[tuple[str, dict[str, Any]]]


def make(events: Events, **kw: Any) -> EventSink:
    return EventSink(
        lambda n, a: events.append((n, a)),
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
    assert representations({"text/html": "<b>x</b>"}) == {
        "text/html": {"type": "inline", "data": "<b>x</b>"},
        "text/plain": {"type": "inline", "data": "<text/html output>"},
    }
