"""The run's verdict as notebook metadata: written with an existing runt event, read back."""

from __future__ import annotations

import json

from runt_action.schema.events import NotebookMetadataSet, decode
from runt_action.schema.state import apply_event, materialize
from runt_action.schema.verdict import (
    CELL_KEY_PREFIX,
    RUN_KEY,
    TEXT_LIMIT,
    CellVerdict,
    RunVerdict,
    cell_verdict,
    run_verdict,
    verdict_events,
)


class Ev:
    def __init__(self, name: str, args: object) -> None:
        self.name, self.args = name, args


def test_a_verdict_travels_as_notebook_metadata_set_and_reads_back() -> None:
    run = RunVerdict(
        "success", {"success": 5, "allowed-error": 1}, None, True, "2026-12-07T20:00:00Z"
    )
    oops = CellVerdict("allowed-error", "ValueError: x", ("output truncated",), "q-1", 1)
    events = verdict_events(run, [("oops", oops)])
    assert [e.wire()[0] for e in events] == ["v1.NotebookMetadataSet"] * 2  # cells first
    assert events[-1].key == RUN_KEY and events[0].key == CELL_KEY_PREFIX + "oops"
    # What any client stores: a key and a string value (the anode table's shape).
    state = materialize(Ev(*e.wire()) for e in events)
    assert isinstance(state.metadata[RUN_KEY], str)
    assert run_verdict(state) == run
    assert cell_verdict(state, "oops") == oops
    assert cell_verdict(state, "other") is None


def test_unreadable_values_are_ignored_not_guessed() -> None:
    state = materialize([])
    for value in ("not json", "[]", json.dumps({"v": 99, "status": "x"}), json.dumps({"v": 1})):
        apply_event(state, NotebookMetadataSet(key=RUN_KEY, value=value))
        assert run_verdict(state) is None
    assert decode("v1.NotebookMetadataSet", {"key": RUN_KEY, "value": "x"}) is not None


def test_long_text_is_clipped_visibly() -> None:
    reason = "x" * (TEXT_LIMIT + 10)
    [event, _] = verdict_events(RunVerdict("failed"), [("c", CellVerdict("failed", reason))])
    state = materialize([Ev(*event.wire())])
    found = cell_verdict(state, "c")
    assert found is not None and found.reason is not None
    assert found.reason.endswith("[clipped: 10 more characters]")
