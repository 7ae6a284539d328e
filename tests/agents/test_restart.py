"""A cell that ignores its interrupt gets the runtime restarted (issue 10 item 4); a runtime
that dies is still reported as dead. Both engines, a real SyncServer, real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

from runt_action.errors import RuntimeDied
from runt_action.schema.notices import notice_of

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import Notebook

STUCK = (
    "import time\n"
    "print('stuck', flush=True)\n"
    "while True:\n"
    "  try: time.sleep(0.1)\n"
    "  except KeyboardInterrupt: pass\n"
)
GRACE = 1.0


async def test_a_cell_ignoring_the_interrupt_restarts_the_runtime(
    notebook: Notebook, spawn_agent: Any
) -> None:
    h = await spawn_agent(interrupt_grace=GRACE)
    old_pid = h.agent.engine.pid
    _, _, first = await notebook.run("secret_state = 42")
    assert first["status"] == "success"
    cell = notebook.add_cell(STUCK)
    queue = notebook.request(cell)
    await notebook.wait(lambda s: "stuck" in notebook.text(cell))
    t0 = time.perf_counter()
    notebook.cancel(queue, cell, "timeout")
    await notebook.done(queue)
    cancelled_after = time.perf_counter() - t0
    done = notebook.completion(queue)
    assert done["status"] == "cancelled" and "restarted" in done["error"]
    [(kind, text)] = [n for o in notebook.outputs(cell) if (n := notice_of(o)) is not None]
    assert kind == "restarted"
    assert text == (
        "the cell ignored the interrupt for 1 s; the runtime was restarted — later cells run "
        "on a fresh runtime"
    )
    assert notebook.text(cell) == "stuck\n"
    # The next cell runs on the fresh runtime: same session, empty namespace.
    later, _, after = await notebook.run("print('secret_state' in globals())")
    ready_after = time.perf_counter() - t0
    assert after["status"] == "success" and notebook.text(later) == "False\n"
    assert h.agent.restarts == 1 and h.agent.engine.pid != old_pid
    sid = h.agent.session_id
    assert notebook.store.state.sessions[sid].is_active
    assert [e.args["sessionId"] for e in notebook.events("v1.RuntimeSessionStarted")] == [sid]
    print(f"cancelled after {cancelled_after:.2f} s, next cell done after {ready_after:.2f} s")


async def test_a_cell_that_honours_the_interrupt_is_not_restarted(
    notebook: Notebook, spawn_agent: Any
) -> None:
    h = await spawn_agent(interrupt_grace=GRACE)
    await notebook.run("kept = 1")
    cell = notebook.add_cell("import time\nprint('busy', flush=True)\ntime.sleep(60)")
    queue = notebook.request(cell)
    await notebook.wait(lambda s: "busy" in notebook.text(cell))
    notebook.cancel(queue, cell)
    await notebook.done(queue)
    assert notebook.completion(queue)["status"] == "cancelled"
    later, _, _ = await notebook.run("print(kept)")
    assert notebook.text(later) == "1\n" and h.agent.restarts == 0


async def test_a_runtime_killed_mid_cell_is_an_error_and_ends_the_session(
    notebook: Notebook, spawn_agent: Any
) -> None:
    h = await spawn_agent(interrupt_grace=GRACE)
    cell = notebook.add_cell("import time\nprint('started', flush=True)\ntime.sleep(120)")
    queue = notebook.request(cell)
    await notebook.wait(lambda s: "started" in notebook.text(cell))
    os.kill(h.agent.engine.pid, signal.SIGKILL)
    with pytest.raises(RuntimeDied):
        await asyncio.wait_for(asyncio.shield(h.task), 10.0)
    await notebook.done(queue)
    done = notebook.completion(queue)
    assert done["status"] == "error" and done["error"].startswith("RuntimeDied: ")
    [err] = [o for o in notebook.outputs(cell) if o.output_type == "error"]
    assert json.loads(err.data or "")["ename"] == "RuntimeDied"
    assert h.agent.restarts == 0
