"""runt output rows / events -> Jupyter outputs, through the real materializer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runt_action.orchestrator.outputs import output_from_event, outputs_from_state
from runt_action.schema.state import NotebookMaterializer


@dataclass
class Ev:
    name: str
    args: Any


def inline(data: Any) -> dict[str, Any]:
    return {"type": "inline", "data": data}


EVENTS = [
    Ev("v2.CellCreated", {"id": "c", "fractionalIndex": "m", "cellType": "code", "createdBy": "t"}),
    Ev(
        "v1.TerminalOutputAdded",
        {"id": "o1", "cellId": "c", "position": 0, "content": inline("a"), "streamName": "stdout"},
    ),
    Ev(
        "v2.TerminalOutputAppended",
        {"id": "d1", "outputId": "o1", "delta": "b\n", "sequenceNumber": 1},
    ),
    Ev(
        "v1.TerminalOutputAdded",
        {
            "id": "o2",
            "cellId": "c",
            "position": 1,
            "content": inline("c\n"),
            "streamName": "stdout",
        },
    ),
    Ev(
        "v1.MultimediaDisplayOutputAdded",
        {
            "id": "o3",
            "cellId": "c",
            "position": 2,
            "representations": {"text/html": inline("<b>x</b>"), "text/plain": inline("x")},
        },
    ),
    Ev(
        "v1.MultimediaResultOutputAdded",
        {
            "id": "o4",
            "cellId": "c",
            "position": 3,
            "representations": {
                "application/json": inline({"k": [1, 2]}),
                "text/plain": inline("{'k': [1, 2]}"),
            },
            "executionCount": 3,
        },
    ),
    Ev(
        "v1.ErrorOutputAdded",
        {
            "id": "o5",
            "cellId": "c",
            "position": 4,
            "content": inline({"ename": "E", "evalue": "v", "traceback": ["t1", "t2"]}),
        },
    ),
]


def test_state_to_jupyter_outputs() -> None:
    mat = NotebookMaterializer()
    state = mat.initial()
    for ev in EVENTS:
        mat.apply(state, ev)  # type: ignore[arg-type]
    outs = outputs_from_state(state, "c")
    assert [o.output_type for o in outs] == ["stream", "display_data", "execute_result", "error"]
    assert outs[0].text == "ab\nc\n"  # deltas applied, adjacent chunks merged
    assert outs[1].data == {"text/html": "<b>x</b>", "text/plain": "x"}
    assert outs[2].data["application/json"] == {"k": [1, 2]}
    assert outs[2].execution_count == 3
    assert (outs[3].ename, outs[3].evalue, outs[3].traceback) == ("E", "v", ["t1", "t2"])


def test_events_to_live_outputs() -> None:
    mat = NotebookMaterializer()
    state = mat.initial()
    seen = []
    for ev in EVENTS:
        mat.apply(state, ev)  # type: ignore[arg-type]
        found = output_from_event(ev.name, ev.args, state)
        if found is not None:
            seen.append(found)
    assert all(cell == "c" for cell, _ in seen)
    assert [o.text for _, o in seen if o.output_type == "stream"] == ["a", "b\n", "c\n"]
    assert seen[-1][1].ename == "E"
    assert output_from_event("v1.PresenceSet", {"userId": "x"}, state) is None
