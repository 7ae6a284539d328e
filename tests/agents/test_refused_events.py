"""An event the store refuses is never dropped silently: a warning, and a notice in its cell."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from runt_action.schema.events import InlineMedia, TerminalOutputAdded
from runt_action.schema.notices import notice_of

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook


@pytest.fixture
def engine_kind() -> str:
    return "python"  # the path under test is the agent's, not the engine's


async def test_a_refused_output_event_leaves_a_notice_and_a_warning(
    notebook: Notebook, runtime: AgentHarness, caplog: pytest.LogCaptureFixture
) -> None:
    cell, _, _ = await notebook.run("print('ok')")
    too_big = TerminalOutputAdded(  # bypasses the sink, as a bug or a new producer might
        id="big",
        cellId=cell,
        position=5,
        content=InlineMedia(data="z" * 2_000_000),
        streamName="stdout",
    )
    with caplog.at_level(logging.WARNING, logger="runt_action.agents.core"):
        runtime.agent._commit(too_big)
    assert any("could not commit v1.TerminalOutputAdded" in r.message for r in caplog.records)
    outs = await notebook.wait(lambda s: [o for o in s.cell_outputs(cell) if notice_of(o)] or None)
    [(kind, text)] = [notice_of(o) for o in outs]
    assert kind == "dropped" and "TerminalOutputAdded" in text
    assert notebook.text(cell) == "ok\n"
