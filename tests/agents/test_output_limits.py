"""Output that does not fit one sync frame is split or replaced visibly, never lost (issue 10
item 1), on both engines, through a real SyncServer and the materialised notebook state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from runt_action.schema.notices import notice_of
from runt_action.schema.state import Output

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook

LIMIT = 120.0  # a bound for big outputs on a busy machine; never reached when it passes


def _lines(n: int) -> str:
    return "".join(f"{i:07d} " + "a" * 92 + "\n" for i in range(n))


def _notices(outputs: list[Output]) -> list[tuple[str, str]]:
    return [found for o in outputs if (found := notice_of(o)) is not None]


async def test_two_megabytes_of_lines_arrive_whole_and_in_order(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run('for i in range(20000): print(f"{i:07d} " + "a"*92)', LIMIT)
    assert done["status"] == "success"
    assert notebook.text(cell) == _lines(20000)
    assert _notices(notebook.outputs(cell)) == []


async def test_five_megabytes_of_lines_arrive_whole_and_in_order(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run('for i in range(50000): print(f"{i:07d} " + "a"*92)', LIMIT)
    assert done["status"] == "success"
    assert notebook.text(cell) == _lines(50000)


async def test_a_three_megabyte_line_survives_intact(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run('print("B"*3_000_000)', LIMIT)
    assert done["status"] == "success"
    assert notebook.text(cell) == "B" * 3_000_000 + "\n"
    assert len(notebook.outputs(cell)) > 1  # split across events, concatenated in order


async def test_a_huge_result_becomes_a_visible_placeholder(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    # A value's repr is one representation, not a stream: it cannot be split, so it is
    # replaced (documented in agents/sink.py). The cell still succeeds.
    cell, _, done = await notebook.run('print("before")\n"x"*5_000_000', LIMIT)
    assert done["status"] == "success"
    # (print writes "before" and "\n" separately: under load they may be two events)
    assert notebook.text(cell) == "before\n"
    [result] = [o for o in notebook.outputs(cell) if o.output_type != "terminal"]
    assert result.output_type == "multimedia_result"
    kind, text = notice_of(result) or ("", "")
    assert kind == "dropped" and "text/plain" in text and "MiB" in text
    assert result.data == f"[runt-action] {text}\n"


async def test_an_image_over_the_frame_becomes_a_placeholder(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run(
        "from IPython.display import display\n"
        "display({'image/png': 'iVBORw0KGgo' * 200_000, 'text/plain': '<Figure>'}, raw=True)\n"
        "print('after')",
        LIMIT,
    )
    assert done["status"] == "success"
    [display] = [o for o in notebook.outputs(cell) if o.output_type != "terminal"]
    assert display.output_type == "multimedia_display"
    assert display.representations is not None and list(display.representations) == ["text/plain"]
    kind, text = notice_of(display) or ("", "")
    assert kind == "dropped" and "image/png" in text
    assert notebook.text(cell) == "after\n"
    assert notebook.outputs(cell)[0] is display  # in place, before what followed


async def test_a_huge_error_message_keeps_the_error_row(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run('raise ValueError("v" * 3_000_000)', LIMIT)
    assert done["status"] == "error" and done["error"].startswith("ValueError: vvv")
    assert len(done["error"]) < 20_000  # the completion event stays small too
    err = next(o for o in notebook.outputs(cell) if o.output_type == "error")
    assert json.loads(err.data or "")["ename"] == "ValueError"
    assert [k for k, _ in _notices(notebook.outputs(cell))] == ["truncated"]


async def test_the_per_cell_cap_truncates_with_a_marker(
    notebook: Notebook, spawn_agent: object
) -> None:
    await spawn_agent(output_cap=200_000)  # type: ignore[operator]
    cell, _, done = await notebook.run('for i in range(5000): print(f"{i:07d} " + "a"*92)')
    assert done["status"] == "success"
    text = notebook.text(cell)
    kept = text.count("\n")
    assert 1900 <= kept < 2000 and text == _lines(kept)  # whole lines, in order, from the top
    [(kind, notice)] = _notices(notebook.outputs(cell))
    assert kind == "truncated" and "per-cell cap" in notice
    assert notebook.outputs(cell)[-1].stream_name == "stderr"
