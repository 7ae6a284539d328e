"""What an AI cell's model reads of the notebook (ai_context) and what the policy allows
(ai_tools), on materialized states: no agent, no network."""

from __future__ import annotations

from typing import Any

from runt_action.agents.executors.ai_context import gather_context
from runt_action.agents.executors.ai_tools import decide, offered_tools
from runt_action.masking import Scrubber
from runt_action.schema import events as ev
from runt_action.schema.state import NotebookState, apply_event


def _state(
    *cells: tuple[str, str, str],
    outputs: dict[str, list[ev.RuntEvent]] | None = None,
    created_by: str = "me",
) -> NotebookState:
    state = NotebookState()
    key = "a"
    for cell_id, cell_type, source in cells:
        key += "1"
        apply_event(
            state,
            ev.CellCreated2(
                id=cell_id,
                fractionalIndex=key,
                cellType=cell_type,
                createdBy=created_by if cell_id.endswith("-ai1") else "me",
            ),
        )
        apply_event(state, ev.CellSourceChanged(id=cell_id, source=source, modifiedBy="me"))
    for events in (outputs or {}).values():
        for event in events:
            apply_event(state, event)
    return state


def _text(cell_id: str, text: str, n: int = 0) -> ev.RuntEvent:
    return ev.TerminalOutputAdded(
        id=f"o-{cell_id}-{n}",
        cellId=cell_id,
        position=n,
        content=ev.InlineMedia(data=text),
        streamName="stdout",
    )


def test_sources_and_outputs_in_order_long_ones_cut_errors_as_text() -> None:
    err = ev.ErrorOutputAdded(
        id="e1",
        cellId="b",
        position=0,
        content=ev.InlineMedia(data={"ename": "ValueError", "evalue": "bad", "traceback": ["tb1"]}),
    )
    state = _state(
        ("a", "code", "print('x' * 9000)"),
        ("b", "code", "raise ValueError"),
        ("ai", "ai", "why?"),
        outputs={"a": [_text("a", "x" * 9000)], "b": [err]},
    )
    ctx = gather_context(state, state.cells["ai"], budget_tokens=100_000)
    assert ctx.text.index("### Cell a") < ctx.text.index("### Cell b")
    assert "[output truncated: 5000 more characters]" in ctx.text
    assert "Error: ValueError: bad\ntb1" in ctx.text
    assert "why?" not in ctx.text  # the prompt is the request, not context
    assert ctx.truncated == 1 and ctx.notes == [
        "1 output(s) were cut to 4000 characters in the model's context"
    ]


def test_the_budget_keeps_the_nearest_cells_and_says_how_many_were_left_out() -> None:
    state = _state(
        *[(f"c{i}", "code", f"v{i} = {'1' * 200}") for i in range(10)], ("ai", "ai", "?")
    )
    ctx = gather_context(state, state.cells["ai"], budget_tokens=200)
    assert ctx.omitted and ctx.cells and ctx.omitted + ctx.cells == 10
    assert "c9" in ctx.text and "### Cell c0" not in ctx.text
    assert ctx.text.startswith(f"[{ctx.omitted} earlier cell(s) left out")


def test_secrets_are_masked_in_the_context() -> None:
    state = _state(
        ("a", "code", "print(token)"),
        ("ai", "ai", "?"),
        outputs={"a": [_text("a", "token hunter2-secret")]},
    )
    ctx = gather_context(
        state, state.cells["ai"], budget_tokens=1000, mask=Scrubber(["hunter2-secret"])
    )
    assert "hunter2-secret" not in ctx.text and "token ***" in ctx.text


def _decide(policy: Any, name: str, args: dict[str, Any], state: NotebookState) -> str | None:
    return decide(policy, name, args, state, state.cells["ai"], "ai-assistant-s1")


def test_the_policy() -> None:
    state = _state(
        ("user", "code", "x = 1"),
        ("ai", "ai", "?"),
        ("ai-ai1", "code", "y = 2"),
        created_by="ai-assistant-s1",
    )
    create = {"source": "z = 3", "after_id": "ai"}
    assert offered_tools("none") == []
    assert [t["function"]["name"] for t in offered_tools("execute")] == [
        "create_cell",
        "modify_cell",
        "execute_cell",
    ]
    assert "ai-tools is 'none'" in (_decide("none", "create_cell", create, state) or "")
    assert _decide("create", "create_cell", create, state) is None
    assert _decide("create", "create_cell", {**create, "after_id": "ai-ai1"}, state) is None
    assert "not 'user'" in (
        _decide("create", "create_cell", {**create, "after_id": "user"}, state) or ""
    )
    assert "missing required parameters: after_id" in (
        _decide("create", "create_cell", {"source": "x"}, state) or ""
    )
    assert _decide("create", "modify_cell", {"cellId": "ai-ai1", "source": "y = 3"}, state) is None
    assert "not created by this AI cell" in (
        _decide("execute", "modify_cell", {"cellId": "user", "source": "x"}, state) or ""
    )
    assert "needs ai-tools 'execute'" in (
        _decide("create", "execute_cell", {"cellId": "ai-ai1"}, state) or ""
    )
    assert _decide("execute", "execute_cell", {"cellId": "ai-ai1"}, state) is None
    assert "unknown tool" in (_decide("execute", "rm_rf", {}, state) or "")
