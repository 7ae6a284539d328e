"""Native-only agent behaviour: a kernel killed mid-cell is reported, never a hang."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import TYPE_CHECKING

import pytest

from runt_action.errors import RuntimeDied

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook


@pytest.fixture
def engine_kind() -> str:
    return "python"


async def test_kernel_killed_mid_cell_fails_the_cell_and_the_session(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell = notebook.add_cell("import time\nprint('started', flush=True)\ntime.sleep(120)")
    queue = notebook.request(cell)
    await notebook.wait(lambda s: notebook.text(cell) == "started\n")
    os.kill(runtime.agent.engine.pid, signal.SIGKILL)  # type: ignore[attr-defined]

    with pytest.raises(RuntimeDied, match="SIGKILL"):
        await asyncio.wait_for(runtime.task, 2.0)
    await notebook.done(queue)
    done = notebook.completion(queue)
    assert done["status"] == "error" and done["error"].startswith("RuntimeDied: ")
    assert notebook.store.state.queue[queue].status == "failed"
    [err] = [o for o in notebook.outputs(cell) if o.output_type == "error"]
    assert json.loads(err.data or "")["ename"] == "RuntimeDied"
    sid = runtime.agent.session_id
    session = await notebook.wait(
        lambda s: s.sessions[sid] if s.sessions[sid].status == "terminated" else None
    )
    assert not session.is_active
    [term] = notebook.events("v1.RuntimeSessionTerminated")
    assert term.args == {"sessionId": sid, "reason": "error"}
