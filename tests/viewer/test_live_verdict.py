"""The live page tells the run's verdict (issue #26): not a guess from the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from viewer_helpers import NOW, cell_events, run_events

from runt_action.results import CellResult, CellStatus, RunStatus
from runt_action.schema import events as ev
from runt_action.schema.verdict import CellVerdict, RunVerdict, verdict_events
from runt_action.viewer.live import LiveNotebook, cells_from_state, notebook_status


class Ev:
    def __init__(self, event: Any) -> None:
        self.name, self.args = event.wire()
        self.created_at = None


def _notebook(*events: Any) -> LiveNotebook:
    notebook = LiveNotebook("nb")
    notebook.apply(Ev(e) for e in events)
    return notebook


def _allowed_error_run() -> list[Any]:
    return [
        *cell_events("ok", "a0", "print(1)"),
        *cell_events("oops", "a1", "raise ValueError('x')"),
        *run_events("ok", "q1", "1\n"),
        *run_events("oops", "q2", "", status="error"),  # the queue says "failed"
    ]


def _verdict(**cells: CellVerdict) -> list[Any]:
    counts: dict[str, int] = {}
    for v in cells.values():
        counts[v.status] = counts.get(v.status, 0) + 1
    run = RunVerdict(RunStatus.SUCCESS.value, counts, None, True, "2026-12-01T12:00:00Z")
    return verdict_events(run, list(cells.items()))


def test_without_a_verdict_the_queue_is_all_a_reader_has() -> None:
    notebook = _notebook(*_allowed_error_run())
    assert notebook.render().status == "failed"  # the guess issue #26 saw


def test_an_allowed_error_run_reads_success_with_the_reports_counts() -> None:
    allowed = CellVerdict("allowed-error", None, ("allowed: ValueError: x",), "q2", 1)
    notebook = _notebook(
        *_allowed_error_run(),
        *_verdict(ok=CellVerdict("success", queue_id="q1", attempts=1), oops=allowed),
    )
    rendered = notebook.render()
    assert rendered.status == "success"
    assert "1 allowed-error" in rendered.header and "failed" not in rendered.header
    oops = rendered.cells["oops"]
    assert "⚠ allowed error" in oops
    assert '<ul class="notes">' in oops and "allowed: ValueError: x" in oops  # notes, live


def test_a_newer_request_than_the_verdict_is_live_again() -> None:
    notebook = _notebook(
        *_allowed_error_run(),
        *_verdict(oops=CellVerdict("allowed-error", queue_id="q2", attempts=1)),
        ev.ExecutionRequested(queueId="q3", cellId="oops", executionCount=2, requestedBy="t"),
    )
    rows = dict((c.id, s) for c, s in cells_from_state(notebook.state))
    assert rows["oops"] == "queued"
    assert notebook.render().status == "running"


def _session(*extra: Any) -> list[Any]:
    caps = ev.RuntimeCapabilities(canExecuteCode=True, canExecuteSql=False, canExecuteAi=False)
    return [
        ev.RuntimeSessionStarted(
            sessionId="s", runtimeId="r", runtimeType="python3", capabilities=caps
        ),
        ev.RuntimeSessionStatusChanged(sessionId="s", status="busy"),
        ev.RuntimeSessionRenewal(sessionId="s", renewedAt=NOW, validForMs=30000),
        *extra,
    ]


def _running() -> list[Any]:
    return [
        *cell_events("slow", "a0", "import time; time.sleep(99)"),
        ev.ExecutionRequested(queueId="q1", cellId="slow", executionCount=1, requestedBy="t"),
        ev.ExecutionStarted(queueId="q1", cellId="slow", runtimeSessionId="s", startedAt=NOW),
    ]


def test_a_runtime_that_stopped_renewing_under_a_running_cell_is_dead() -> None:
    notebook = _notebook(*_session(), *_running())
    cells = cells_from_state(notebook.state)
    assert notebook_status(notebook.state, cells, now=NOW + timedelta(seconds=10)) == "running"
    later = NOW + timedelta(seconds=46)  # past the UI's 45 s rule
    assert notebook_status(notebook.state, cells, now=later) == "dead"


def test_a_runtime_that_died_with_an_error_is_dead_at_once() -> None:
    died = ev.RuntimeSessionTerminated(sessionId="s", reason="error")
    notebook = _notebook(*_session(died), *_running())
    cells = cells_from_state(notebook.state)
    assert notebook_status(notebook.state, cells, now=NOW) == "dead"
    rendered = notebook.render()
    assert "⊗ runtime dead" in rendered.header and 'id="run-error"' in rendered.header


def test_a_runtime_that_shut_down_is_not_dead() -> None:
    done = ev.RuntimeSessionTerminated(sessionId="s", reason="shutdown")
    notebook = _notebook(*_session(done), *cell_events("c", "a0", "1"), *run_events("c", "q9", ""))
    assert notebook_status(notebook.state, cells_from_state(notebook.state), now=NOW) == "success"


def test_the_final_verdict_names_the_run_error() -> None:
    run = RunVerdict("error", {"failed": 1}, "the runtime agent failed: killed", True, None)
    failed = CellVerdict("failed", "the runtime died", (), "q1")
    notebook = _notebook(
        *_session(),
        *cell_events("c", "a0", "1"),
        *run_events("c", "q1", "", "error"),
        *verdict_events(run, [("c", failed)]),
    )
    rendered = notebook.render()
    assert rendered.status == "error"
    assert "the runtime agent failed: killed" in rendered.header
    assert "the runtime died" in rendered.cells["c"]  # the cell's reason


def test_cell_results_carry_the_verdicts_status() -> None:
    notebook = _notebook(
        *_allowed_error_run(), *_verdict(oops=CellVerdict("allowed-error", queue_id="q2"))
    )
    found: dict[str, CellResult] = {c.id: c for c, _ in cells_from_state(notebook.state)}
    assert found["oops"].status is CellStatus.ALLOWED_ERROR
