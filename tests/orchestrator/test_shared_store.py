"""The runner and the in-process agent share one Store: each reacts to the other's commits
before the server confirms them, and only when the confirmed log cannot disagree.

A gate proxy between the Store and the real embedded server holds the client's frames, so
"nothing was confirmed yet" is a fact of each test, never a race. Real kernel, real server.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from runt_action.errors import SyncTimeout
from runt_action.orchestrator.runner import ACTOR, Runner
from runt_action.results import CellStatus
from runt_action.schema import events as ev

WAIT_S = 30.0


def _stdout(outputs: Any) -> str:
    return "".join(o.text or "" for o in outputs if o.output_type == "stream")


async def test_agent_runs_a_request_of_its_own_store_before_confirmation(gated: Any) -> None:
    seen_rows: list[Any] = []

    def on_commit(name: str, args: Any) -> None:
        if name == ev.ExecutionAssigned.NAME:
            seen_rows.append(gated.store.state.queue.get(args["queueId"]))

    gated.add_cell("c1", "print('ran')")
    await gated.store.flush(timeout=WAIT_S)
    with gated.store.on_commit(on_commit):
        gated.gate.hold()
        queue_id = gated.request("c1")
        done = await gated.committed(ev.ExecutionCompleted.NAME, queue_id)
    assert done["status"] == "success"
    # The kernel ran it with nothing confirmed: the request row is not in the state yet.
    assert seen_rows == [None]
    assert gated.store.state.queue.get(queue_id) is None
    gated.gate.release()
    await gated.store.flush(timeout=WAIT_S)
    names = [
        e.name
        for e in gated.store.events
        if isinstance(e.args, dict) and e.args.get("queueId") == queue_id
    ]
    # The confirmed log reads as on the confirmed path: request, claim, start, completion.
    assert names == [
        "v1.ExecutionRequested",
        "v1.ExecutionAssigned",
        "v1.ExecutionStarted",
        "v1.ExecutionCompleted",
    ]
    assert gated.store.state.queue[queue_id].status == "completed"


async def test_agent_waits_for_a_pending_source_change_of_the_cell(gated: Any) -> None:
    gated.add_cell("c1", "print('old source')")
    await gated.store.flush(timeout=WAIT_S)
    gated.gate.hold()
    # Committed together, unconfirmed: running the confirmed (old) source now would be wrong.
    gated.store.commit(
        *ev.CellSourceChanged(id="c1", source="print('new source')", modifiedBy=ACTOR).wire()
    )
    queue_id = gated.request("c1")
    gated.gate.release()
    await gated.committed(ev.ExecutionCompleted.NAME, queue_id)
    await gated.store.flush(timeout=WAIT_S)
    text = "".join(
        gated.store.state.final_content(o)
        for o in gated.store.state.cell_outputs("c1")
        if o.output_type == "terminal"
    )
    assert text == "new source\n"


async def test_agent_waits_for_confirmation_when_another_runtime_is_active(
    gated: Any,
) -> None:
    # Another live session could claim the same row: claims are last-writer-wins, so the
    # agent must see the request (and its claim) confirmed before it runs anything.
    gated.store.commit(
        *ev.RuntimeSessionStarted(
            sessionId="other-session",
            runtimeId="other",
            runtimeType="python3",
            capabilities=ev.RuntimeCapabilities(
                canExecuteCode=True, canExecuteSql=False, canExecuteAi=False
            ),
        ).wire()
    )
    gated.add_cell("c1", "x = 1")
    await gated.store.flush(timeout=WAIT_S)
    seen_rows: list[Any] = []

    def on_commit(name: str, args: Any) -> None:
        if name == ev.ExecutionAssigned.NAME:
            seen_rows.append(gated.store.state.queue.get(args["queueId"]))

    with gated.store.on_commit(on_commit):
        gated.gate.hold()
        queue_id = gated.request("c1")
        gated.gate.release()
        await gated.committed(ev.ExecutionCompleted.NAME, queue_id)
    assert len(seen_rows) == 1 and seen_rows[0] is not None  # claimed a confirmed row


async def _blocked_cell_running(
    gated: Any, make_cells: Any, fifo: Path, then: str = "", **runner_kw: Any
) -> tuple[Runner, asyncio.Task[None]]:
    """Run cell "a", which blocks on ``fifo`` and then runs ``then``; return once its start,
    claim and clear are all confirmed and the gate holds: what it commits next stays local."""
    os.mkfifo(fifo)
    source = f"x = open({str(fifo)!r}).read()" + (f"\n{then}" if then else "")
    runner = gated.runner(make_cells({"id": "a", "source": source}), **runner_kw)
    await runner.prefill()
    run = asyncio.create_task(runner.execute())
    await gated.store.wait_for(lambda s: s.cells["a"].execution_state == "running", WAIT_S)
    await gated.store.flush(timeout=WAIT_S)
    gated.gate.hold()
    await asyncio.to_thread(fifo.write_text, "go")  # unblocks the cell
    return runner, run


async def test_runner_concludes_from_its_agents_completion_before_confirmation(
    gated: Any, make_cells: Any, tmp_path: Path
) -> None:
    seen: list[tuple[Any, ...]] = []
    ended = asyncio.Event()

    class Hooks:
        def on_cell_start(self, cell: Any, index: int, total: int) -> None:
            pass

        def on_output(self, cell_id: str, output: Any) -> None:
            pass

        def on_cell_end(self, cell: Any) -> None:
            row = gated.store.state.queue.get(cell.queue_id)
            pending = [a for n, a in gated.store.pending() if n == ev.ExecutionCompleted.NAME]
            seen.append((cell.status, row.status if row else None, pending, cell))
            ended.set()

    _, run = await _blocked_cell_running(gated, make_cells, tmp_path / "go", hooks=Hooks())
    # The cell is concluded while the gate still holds its completion...
    done = await gated.committed(ev.ExecutionCompleted.NAME, "a", key="cellId")
    await asyncio.wait_for(ended.wait(), WAIT_S)
    ((status, confirmed_status, pending, res),) = seen
    assert status == CellStatus.SUCCESS
    assert confirmed_status == "executing"  # concluded before the completion was confirmed
    assert pending == [done]
    assert res.duration_ms == done["executionDurationMs"] > 0  # the agent's, not our clock
    assert res.completed_at == done["completedAt"]
    # ...but the run ends only once the server has it.
    assert not run.done()
    gated.gate.release()
    await asyncio.wait_for(run, WAIT_S)
    assert gated.store.state.queue[res.queue_id].status == "completed"


async def test_execute_fails_if_the_server_never_confirms_a_concluded_cell(
    gated: Any, make_cells: Any, tmp_path: Path
) -> None:
    runner, run = await _blocked_cell_running(
        gated, make_cells, tmp_path / "go", request_timeout=0.5
    )
    with pytest.raises(SyncTimeout, match="not confirmed by the sync server"):
        await asyncio.wait_for(run, WAIT_S)  # the gate never opens
    assert runner.results[0].status == CellStatus.SUCCESS  # concluded, and still reported


async def test_runner_waits_for_unconfirmed_outputs_of_the_cell(
    gated: Any, make_cells: Any, tmp_path: Path
) -> None:
    runner, run = await _blocked_cell_running(
        gated, make_cells, tmp_path / "go", then="print('hello')"
    )
    await gated.committed(ev.ExecutionCompleted.NAME, "a", key="cellId")
    # Its stdout is still unconfirmed: concluding now would leave it out of the result.
    gated.gate.release()
    await asyncio.wait_for(run, WAIT_S)
    (res,) = runner.results
    assert res.status == CellStatus.SUCCESS
    assert _stdout(res.outputs) == "hello\n"
