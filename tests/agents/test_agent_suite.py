"""The runtime agent suite, run against every engine: a real SyncServer, a real orchestrator
Store committing cells and requests, and a RuntimeAgent with its own Store.

Until runt_action.agents.pyodide exists, every "pyodide" case fails (it must not be skipped).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from runt_action.schema import events as ev
from runt_action.schema.state import NotebookState

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook


async def test_session_is_ready_renewed_and_visible(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    sid = runtime.agent.session_id
    session = await notebook.wait(
        lambda s: (
            s.sessions.get(sid)
            if s.sessions.get(sid, None) and s.sessions[sid].status == "ready"
            else None
        )
    )
    assert session.is_active and session.can_execute_code
    assert session.runtime_type == runtime.agent.engine.runtime_type
    await notebook.wait(lambda s: s.sessions[sid].last_renewed_at is not None)
    actor = notebook.store.state.actors[runtime.agent.actor_id]
    assert actor.type == "runtime_agent"
    assert runtime.agent.actor_id in notebook.store.state.presence
    assert "runtime" in runtime.agent.actor_id  # the runt UI shows a bot icon for it


async def test_stdout_and_stderr(notebook: Notebook, runtime: AgentHarness) -> None:
    cell, queue, done = await notebook.run(
        "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nprint('world')"
    )
    assert done["status"] == "success"
    assert notebook.store.state.queue[queue].status == "completed"
    assert notebook.text(cell) == "hello\nworld\n"
    assert notebook.text(cell, "stderr") == "oops\n"
    positions = [o.position for o in notebook.outputs(cell)]
    assert positions == sorted(positions) and positions[0] == 0


async def test_display_and_update(notebook: Notebook, runtime: AgentHarness) -> None:
    cell, _, done = await notebook.run(
        "from IPython.display import display\n"
        "h = display({'text/plain': 'first', 'text/html': '<b>first</b>'}, raw=True,"
        " display_id=True)\n"
        "h.update({'text/plain': 'second', 'text/html': '<b>second</b>'}, raw=True)\n"
    )
    assert done["status"] == "success"
    [out] = notebook.outputs(cell)
    assert out.output_type == "multimedia_display" and out.display_id
    assert out.mime_type == "text/html" and out.data == "<b>second</b>"
    assert notebook.events("v1.MultimediaDisplayOutputUpdated")


async def test_execute_result_carries_the_execution_count(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, queue, done = await notebook.run("6 * 7")
    assert done["status"] == "success"
    [out] = notebook.outputs(cell)
    assert out.output_type == "multimedia_result" and out.data == "42"
    assert out.execution_count == notebook.store.state.queue[queue].execution_count
    assert done["executionDurationMs"] >= 0


async def test_failing_cell_reports_error_output_and_status(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, queue, done = await notebook.run(
        "print('before')\ndef boom():\n    raise ValueError('bad value')\nboom()"
    )
    assert done["status"] == "error" and done["error"] == "ValueError: bad value"
    assert notebook.store.state.queue[queue].status == "failed"
    assert notebook.store.state.cells[cell].execution_state == "error"
    assert notebook.text(cell) == "before\n"
    [err] = [o for o in notebook.outputs(cell) if o.output_type == "error"]
    data = json.loads(err.data or "")
    assert data["ename"] == "ValueError" and data["evalue"] == "bad value"
    assert any("boom" in line for line in data["traceback"])
    assert all("\x1b[" not in line for line in data["traceback"])


async def test_namespace_persists_across_cells(notebook: Notebook, runtime: AgentHarness) -> None:
    await notebook.run("x = 20")
    cell, _, done = await notebook.run("x + 22")
    assert done["status"] == "success"
    assert notebook.outputs(cell)[0].data == "42"


async def test_clear_output_resets_outputs(notebook: Notebook, runtime: AgentHarness) -> None:
    cell, _, done = await notebook.run(
        "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')"
    )
    assert done["status"] == "success"
    outs = notebook.outputs(cell)
    assert [notebook.store.state.final_content(o) for o in outs] == ["kept\n"]
    assert outs[0].position == 0


async def _running(notebook: Notebook, cell: str, marker: str) -> None:
    await notebook.wait(lambda s: marker in _stdout(s, cell))


def _stdout(state: NotebookState, cell: str) -> str:
    return "".join(
        state.final_content(o) for o in state.cell_outputs(cell) if o.output_type == "terminal"
    )


async def test_interrupt_via_execution_cancelled(notebook: Notebook, runtime: AgentHarness) -> None:
    cell = notebook.add_cell("import time\nprint('started', flush=True)\ntime.sleep(120)")
    queue = notebook.request(cell)
    await _running(notebook, cell, "started")
    notebook.cancel(queue, cell, "user pressed stop")
    await notebook.done(queue)
    assert notebook.completion(queue)["status"] == "cancelled"
    _, _, after = await notebook.run("'next cell runs'")
    assert after["status"] == "success"


async def test_cell_outliving_its_timeout_is_cancelled_and_next_runs(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell = notebook.add_cell("print('spinning', flush=True)\nwhile True:\n    pass")
    queue = notebook.request(cell)
    await _running(notebook, cell, "spinning")
    try:  # the orchestrator's per-cell timeout
        await notebook.done(queue, limit=0.5)
        raise AssertionError("an endless loop completed")
    except TimeoutError:
        notebook.cancel(queue, cell, "timeout")
    await notebook.done(queue)
    assert notebook.completion(queue)["status"] == "cancelled"
    cell2, _, after = await notebook.run("print('alive')")
    assert after["status"] == "success" and notebook.text(cell2) == "alive\n"


async def test_queue_runs_in_order_and_cancelled_rows_never_start(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    blocker = notebook.add_cell("import time\nprint('blocking', flush=True)\ntime.sleep(120)")
    cells = [notebook.add_cell(f"print({i})") for i in range(3)]
    skipped = notebook.add_cell("print('must not run')")
    q_block = notebook.request(blocker)
    queues = [notebook.request(c) for c in cells[:2]]
    q_skip = notebook.request(skipped)
    queues.append(notebook.request(cells[2]))
    await _running(notebook, blocker, "blocking")
    notebook.cancel(q_skip, skipped)
    notebook.cancel(q_block, blocker)
    for q in queues:
        await notebook.done(q)
    started = [e.args["queueId"] for e in notebook.events("v1.ExecutionStarted")]
    assert started == [q_block, *queues]
    assert q_skip not in started
    assert notebook.store.state.queue[q_skip].status == "cancelled"
    assert [notebook.text(c) for c in cells] == ["0\n", "1\n", "2\n"]


async def test_starting_displaces_other_sessions(notebook: Notebook, spawn_agent: Any) -> None:
    notebook.store.commit(
        *ev.RuntimeSessionStarted(
            sessionId="old-session",
            runtimeId="old",
            runtimeType="python3",
            capabilities=ev.RuntimeCapabilities(
                canExecuteCode=True, canExecuteSql=False, canExecuteAi=False
            ),
        ).wire()
    )
    await notebook.wait(lambda s: "old-session" in s.sessions)
    h = await spawn_agent()
    await notebook.wait(lambda s: h.agent.session_id in s.sessions)
    old = notebook.store.state.sessions["old-session"]
    assert not old.is_active and old.status == "terminated"
    reasons = {
        e.args["sessionId"]: e.args["reason"]
        for e in notebook.events("v1.RuntimeSessionTerminated")
    }
    assert reasons == {"old-session": "displaced"}


async def test_displaced_agent_stops_cleanly(notebook: Notebook, runtime: AgentHarness) -> None:
    sid = runtime.agent.session_id
    notebook.store.commit(*ev.RuntimeSessionTerminated(sessionId=sid, reason="displaced").wire())
    await asyncio.wait_for(runtime.task, 20)  # run() returns without raising
    # It does not terminate itself a second time, and claims nothing any more.
    assert [e.args["reason"] for e in notebook.events("v1.RuntimeSessionTerminated")] == [
        "displaced"
    ]
    queue = notebook.request(notebook.add_cell("1"))
    await notebook.store.flush(timeout=10)
    await runtime.store.flush(timeout=10)
    assert notebook.store.state.queue[queue].status == "pending"


async def test_shutdown_terminates_the_session(notebook: Notebook, runtime: AgentHarness) -> None:
    runtime.agent.stop()
    await asyncio.wait_for(runtime.task, 20)
    sid = runtime.agent.session_id
    session = await notebook.wait(
        lambda s: s.sessions[sid] if s.sessions[sid].status == "terminated" else None
    )
    assert not session.is_active
    [term] = notebook.events("v1.RuntimeSessionTerminated")
    assert term.args == {"sessionId": sid, "reason": "shutdown"}


async def test_every_event_the_agent_commits_is_schema_valid(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    await notebook.run(
        "from IPython.display import display\nprint('x')\n"
        "display({'text/plain': 'd'}, raw=True, display_id='d1')\n1/0"
    )
    runtime.agent.stop()
    await asyncio.wait_for(runtime.task, 20)
    await notebook.wait(lambda s: s.sessions[runtime.agent.session_id].status == "terminated")
    mine = [e for e in notebook.store.events if e.client_id == runtime.store.client_id]
    assert mine
    for e in mine:
        model = ev.decode(e.name, e.args)
        assert model is not None, e.name
        assert model.wire() == (e.name, e.args), e.name


async def test_non_code_cells(notebook: Notebook, runtime: AgentHarness) -> None:
    md = notebook.add_cell("# title", cell_type="markdown")
    sql = notebook.add_cell("select 1", cell_type="sql")
    q_md, q_sql = notebook.request(md), notebook.request(sql)
    await notebook.done(q_sql)
    assert notebook.completion(q_md)["status"] == "success"
    assert notebook.outputs(md) == []
    assert notebook.completion(q_sql)["status"] == "error"
    [err] = notebook.outputs(sql)
    assert json.loads(err.data or "")["ename"] == "UnsupportedCellType"


async def test_bursts_of_prints_are_coalesced_not_lost(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    cell, _, done = await notebook.run("for i in range(5000):\n    print(i)")
    assert done["status"] == "success"
    assert notebook.text(cell) == "".join(f"{i}\n" for i in range(5000))
    assert 1 <= len(notebook.outputs(cell)) <= 100


async def test_all_executions_cancelled(notebook: Notebook, runtime: AgentHarness) -> None:
    running = notebook.add_cell("print('spinning', flush=True)\nwhile True:\n    pass")
    waiting = notebook.add_cell("print('must not run')")
    q_run, q_wait = notebook.request(running), notebook.request(waiting)
    await _running(notebook, running, "spinning")
    notebook.store.commit(*ev.AllExecutionsCancelled().wire())
    await notebook.done(q_run)
    assert notebook.completion(q_run)["status"] == "cancelled"
    _, _, after = await notebook.run("'next'")
    assert after["status"] == "success"
    started = [e.args["queueId"] for e in notebook.events("v1.ExecutionStarted")]
    assert q_wait not in started


async def test_stop_while_a_cell_runs(notebook: Notebook, runtime: AgentHarness) -> None:
    cell = notebook.add_cell("print('spinning', flush=True)\nwhile True:\n    pass")
    queue = notebook.request(cell)
    await _running(notebook, cell, "spinning")
    runtime.agent.stop()
    await asyncio.wait_for(runtime.task, 20)
    await notebook.done(queue)
    assert notebook.completion(queue)["status"] == "cancelled"
    sid = runtime.agent.session_id
    await notebook.wait(lambda s: s.sessions[sid].status == "terminated")
    [term] = notebook.events("v1.RuntimeSessionTerminated")
    assert term.args["reason"] == "shutdown"
