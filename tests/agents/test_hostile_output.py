"""End to end: a real kernel prints terminal escapes, a hyperlink and bidi controls; the live
log and the HTML report show them neutralised, while the notebook keeps the raw data."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import pytest

from runt_action.livestore.server import SyncServer
from runt_action.orchestrator.outputs import output_from_event, outputs_from_state
from runt_action.report import live_log
from runt_action.report.html import render_cell
from runt_action.results import CellResult, CellStatus

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook

SOURCE = r"""
print("\x1b]0;pwned\x07\x1b[2J\x1b[Htitle and clear")
print("\x1b[31mred\x1b[0m \x1b]8;;https://evil.example/x\x1b\\click\x1b]8;;\x1b\\ done")
print("file \u202egnp.exe\x1b[1A\x08!")
"""
RAW = (
    "\x1b]0;pwned\x07\x1b[2J\x1b[Htitle and clear\n"
    "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example/x\x1b\\click\x1b]8;;\x1b\\ done\n"
    "file \u202egnp.exe\x1b[1A\x08!\n"
)
SHOWN = (
    "title and clear\n"
    "\x1b[31mred\x1b[0m click <https://evil.example/x> done\n"
    "file ⟦U+202E⟧gnp.exe!\n"
)


@pytest.fixture
def engine_kind() -> str:
    return "python"


async def test_log_and_html_show_what_a_cell_printed_neutralised(
    server: SyncServer, store_id: str, notebook: Notebook, runtime: AgentHarness
) -> None:
    cell_id, _, done = await notebook.run(SOURCE)
    assert done["status"] == "success"
    assert notebook.text(cell_id) == RAW  # the notebook (and so the .ipynb) keeps the raw data

    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False)
    log.on_cell_start(cell_id, 0, 1)
    for event in server.events_of(store_id):  # as the orchestrator feeds it, event by event
        found = output_from_event(event.name, event.args, notebook.store.state)
        if found is not None:
            log.on_output(*found)
    outputs = outputs_from_state(notebook.store.state, cell_id)
    cell = CellResult(cell_id, "code", SOURCE, CellStatus.SUCCESS, outputs=outputs)
    log.on_cell_end(cell)
    assert f"[1/1] {cell_id}: running\n{SHOWN}✓ Cell {cell_id}: success\n" == out.getvalue()

    html = str(render_cell(cell)).split('<div class="outputs">')[1]  # not the source
    assert "pwned" not in html and "\x1b" not in html and "\u202e" not in html
    assert not re.search(r"<a [^>]*evil", html)
    assert "click &lt;https://evil.example/x&gt; done" in html
    assert "⟦U+202E⟧gnp.exe!" in html
    assert re.search(r'<span style="[^"]*color[^"]*">red</span>', html)
