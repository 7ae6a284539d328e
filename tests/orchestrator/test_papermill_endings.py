"""Issue #21 in the runner, on both runtimes: ``sys.exit(0)`` ends the notebook cleanly (the
rest is skipped with the reason), other exit codes fail; ``h.update()`` in a later cell shows
in the earlier cell's result; an interrupted cell keeps what it printed."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runt_action.orchestrator.outputs import clean_exit_of
from runt_action.orchestrator.runner import _verdict
from runt_action.results import CellOutput, CellStatus
from tests.orchestrator.conftest import Harness, _store, host_agent


def _err(ename: str, evalue: str) -> CellOutput:
    return CellOutput(output_type="error", ename=ename, evalue=evalue, traceback=[])


def test_clean_exit_of_needs_every_error_to_be_a_clean_exit() -> None:
    stream = CellOutput(output_type="stream", name="stdout", text="x")
    assert clean_exit_of([stream]) is None
    assert clean_exit_of([stream, _err("SystemExit", "0")]) is not None
    assert clean_exit_of([_err("SystemExit", "")]) is not None
    assert clean_exit_of([_err("SystemExit", "2")]) is None
    assert clean_exit_of([_err("ValueError", "x"), _err("SystemExit", "0")]) is None


def test_verdict_of_a_clean_exit_is_success_whatever_the_runtime_said() -> None:
    assert _verdict("failed", [_err("SystemExit", "0")]) == (CellStatus.SUCCESS, None)
    assert _verdict("completed", [_err("SystemExit", "")]) == (CellStatus.SUCCESS, None)
    assert _verdict("failed", [_err("SystemExit", "msg")]) == (
        CellStatus.FAILED,
        "SystemExit: msg",
    )
    assert _verdict("lost", [_err("SystemExit", "0")])[0] == CellStatus.FAILED


@pytest.fixture(params=["python", pytest.param("pyodide", marks=pytest.mark.pyodide)])
async def both(server: Any, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    notebook_id = f"test_{secrets.token_hex(5)}"
    store = await _store(server.url, notebook_id)
    agent = host_agent(store, str(request.param))
    try:
        yield Harness(server.url, notebook_id, store, agent)
    finally:
        await agent.stop(10)
        await agent.engine_closed()
        await store.close()


async def _run(h: Harness, planned: Any, **kw: Any) -> dict[str, Any]:
    runner = h.runner(planned, **kw)
    await runner.prefill()
    await runner.wait_for_runtime()
    await runner.execute()
    return {r.id: r for r in runner.results}


def _plain(res: Any) -> list[str]:
    return [o.data.get("text/plain", "") for o in res.outputs if o.output_type == "display_data"]


async def test_sys_exit_ends_the_notebook_and_update_display_reaches_back(
    both: Harness, make_cells: Any, recorder: Any
) -> None:
    res = await _run(
        both,
        make_cells(
            {"id": "show", "source": "h = display('a', display_id=True)"},
            {"id": "upd", "source": "h.update('b')\nprint('updated')"},
            {"id": "stop", "source": "import sys\nprint('bye')\nsys.exit(0)\nprint('AFTER')"},
            {"id": "later", "source": "print('LATER')"},
            {"id": "cleanup", "source": "print('CLEANUP')", "if": "always()"},
            {"id": "doc", "type": "markdown", "source": "# end"},
        ),
        hooks=recorder,
    )
    assert _plain(res["show"]) == ["'b'"]  # as Jupyter and papermill show it
    assert res["upd"].status == CellStatus.SUCCESS
    stop = res["stop"]
    assert stop.status == CellStatus.SUCCESS and stop.reason is None
    assert stop.notes == ["sys.exit(0) ended the notebook here; later cells were not run"]
    [err] = [o for o in stop.outputs if o.output_type == "error"]
    assert (err.ename, err.evalue) == ("SystemExit", "0")  # kept, as in papermill's notebook
    assert "AFTER" not in "".join(o.text or "" for o in stop.outputs)
    for cell_id in ("later", "cleanup"):
        assert res[cell_id].status == CellStatus.SKIPPED
        assert res[cell_id].reason == "the notebook called sys.exit(0) in cell stop"
        assert "v1.ExecutionRequested" not in both.event_names(cell_id)
    assert res["doc"].status == CellStatus.NOT_EXECUTED
    # The checkpoint after "upd" (on_cell_end) already sees the updated display.
    assert ("end", "upd") in recorder.calls


@pytest.mark.parametrize(
    ("source", "clean"),
    [
        ("import sys\nsys.exit()", True),
        ("raise SystemExit", True),
        ("import sys\nsys.exit(None)", True),
        ("import sys\nsys.exit('msg')", False),
        ("import sys\nsys.exit(3)", False),
    ],
)
async def test_exit_codes(harness: Harness, make_cells: Any, source: str, clean: bool) -> None:
    res = await _run(
        harness,
        make_cells({"id": "x", "source": source}, {"id": "later", "source": "print(1)"}),
    )
    if clean:
        assert res["x"].status == CellStatus.SUCCESS
        assert res["later"].reason is not None
        assert res["later"].reason.startswith("the notebook called sys.exit(")
    else:
        assert res["x"].status == CellStatus.FAILED
        assert (res["x"].reason or "").startswith("SystemExit: ")
        assert res["later"].reason == "an earlier cell failed"


async def test_an_exit_in_a_retried_cell_is_not_retried(harness: Harness, make_cells: Any) -> None:
    res = await _run(
        harness,
        make_cells(
            {"id": "x", "source": "import sys\nsys.exit(0)", "retries": 2},
            {"id": "later", "source": "print(1)"},
        ),
    )
    assert res["x"].status == CellStatus.SUCCESS and res["x"].attempts == 1
    assert res["later"].status == CellStatus.SKIPPED


async def test_interrupted_cell_keeps_its_partial_output(
    both: Harness, make_cells: Any, recorder: Any
) -> None:
    """As a run cancelled by a signal: the work is cancelled mid-cell, then mark_unfinished."""
    runner = both.runner(
        make_cells(
            {"id": "slow", "source": "import time\nprint('before', flush=True)\ntime.sleep(60)"},
            {"id": "later", "source": "print('LATER')"},
        ),
        hooks=recorder,
    )
    await runner.prefill()
    await runner.wait_for_runtime()
    work = asyncio.ensure_future(runner.execute())
    for _ in range(600):
        if any(kind == "output" and cid == "slow" for kind, (cid, *_) in _outputs(recorder)):
            break
        await asyncio.sleep(0.05)
    runner.cancel_running("cancelled by a signal")
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    # The agent interrupts the cell; its KeyboardInterrupt may or may not be confirmed yet.
    await asyncio.sleep(0.5)
    runner.mark_unfinished(CellStatus.CANCELLED, "cancelled by a signal")
    slow = next(r for r in runner.results if r.id == "slow")
    assert slow.status == CellStatus.CANCELLED
    assert [o.text for o in slow.outputs if o.output_type == "stream"] == ["before\n"]
    [err] = [o for o in slow.outputs if o.output_type == "error"]
    assert err.ename == "KeyboardInterrupt"
    later = next(r for r in runner.results if r.id == "later")
    assert later.status == CellStatus.SKIPPED and later.reason == "cancelled by a signal"


def _outputs(recorder: Any) -> list[tuple[str, tuple[str, Any]]]:
    return [(kind, value) for kind, value in recorder.calls if kind == "output"]


def test_html_fragment_cache_sees_an_updated_display() -> None:
    """A checkpoint rendered the earlier cell with "a": the final report must not reuse it."""
    from runt_action.report.html import _fragment_key
    from runt_action.results import CellResult

    cell = CellResult(id="show", cell_type="code", source="", status=CellStatus.SUCCESS)
    cell.outputs = [CellOutput(output_type="display_data", data={"text/plain": "'a'"})]
    before = _fragment_key(0, cell)
    cell.outputs = [CellOutput(output_type="display_data", data={"text/plain": "'b'"})]
    assert _fragment_key(0, cell) != before
