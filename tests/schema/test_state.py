from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from runt_action.livestore.events import Event
from runt_action.schema import events as ev
from runt_action.schema.state import (
    NotebookMaterializer,
    NotebookState,
    RuntimeSession,
    materialize,
)

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import Notebook

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
TEXT = ev.InlineMedia(data="hi\n")


def cell_state(st: NotebookState, cell_id: str) -> str:
    """Read through a call so type checkers do not narrow a column across events."""
    return st.cells[cell_id].execution_state


def queue_status(st: NotebookState, queue_id: str) -> str:
    return st.queue[queue_id].status


def renewal(s: RuntimeSession) -> tuple[datetime | None, datetime | None]:
    return s.last_renewed_at, s.expires_at


def created(cell_id: str, key: str, cell_type: ev.CellType = "code") -> ev.CellCreated2:
    return ev.CellCreated2(id=cell_id, fractionalIndex=key, cellType=cell_type, createdBy="auto")


def requested(queue_id: str, cell_id: str, count: int = 1) -> ev.ExecutionRequested:
    return ev.ExecutionRequested(
        queueId=queue_id, cellId=cell_id, executionCount=count, requestedBy="auto"
    )


def completed(queue_id: str, cell_id: str, status: ev.ExecutionStatus) -> ev.ExecutionCompleted:
    return ev.ExecutionCompleted(
        queueId=queue_id, cellId=cell_id, status=status, completedAt=NOW, executionDurationMs=42
    )


def terminal(oid: str, cell_id: str, position: int, text: str = "x") -> ev.TerminalOutputAdded:
    return ev.TerminalOutputAdded(
        id=oid,
        cellId=cell_id,
        position=position,
        content=ev.InlineMedia(data=text),
        streamName="stdout",
    )


def started_session(session_id: str = "s1", *, sql: bool = False) -> ev.RuntimeSessionStarted:
    return ev.RuntimeSessionStarted(
        sessionId=session_id,
        runtimeId="r1",
        runtimeType="python3-pyodide",
        capabilities=ev.RuntimeCapabilities(
            canExecuteCode=True, canExecuteSql=sql, canExecuteAi=False
        ),
    )


def test_execution_lifecycle(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), ev.CellSourceChanged(id="c1", source="1+1", modifiedBy="auto"))
    assert st.cells["c1"].source == "1+1"
    assert cell_state(st, "c1") == "idle"

    nb.emit(requested("q1", "c1", 7))
    row = st.queue["q1"]
    assert (row.status, row.cell_id, row.execution_count, row.requested_by) == (
        "pending",
        "c1",
        7,
        "auto",
    )
    assert cell_state(st, "c1") == "queued"
    assert st.cells["c1"].execution_count == 7
    assert st.pending_queue() == [row]

    nb.emit(ev.ExecutionAssigned(queueId="q1", runtimeSessionId="s1"))
    assert (row.status, row.assigned_runtime_session) == ("assigned", "s1")
    assert st.pending_queue() == []

    nb.emit(ev.ExecutionStarted(queueId="q1", cellId="c1", runtimeSessionId="s1", startedAt=NOW))
    assert (row.status, row.started_at) == ("executing", NOW)
    assert cell_state(st, "c1") == "running"
    assert st.cells["c1"].assigned_runtime_session == "s1"

    nb.emit(terminal("o1", "c1", 0, "2\n"), completed("q1", "c1", "success"))
    assert (row.status, row.completed_at, row.execution_duration_ms) == ("completed", NOW, 42)
    assert cell_state(st, "c1") == "completed"
    assert st.cells["c1"].last_execution_duration_ms == 42
    assert [o.data for o in st.cell_outputs("c1")] == ["2\n"]


@pytest.mark.parametrize("status", ["error", "cancelled"])
def test_any_non_success_completion_is_failed(nb: Notebook, status: ev.ExecutionStatus) -> None:
    st = nb.emit(created("c1", "m"), requested("q1", "c1"), completed("q1", "c1", status))
    assert queue_status(st, "q1") == "failed"
    assert cell_state(st, "c1") == "error"


def test_cancel_then_late_completion_becomes_failed(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), requested("q1", "c1"))
    nb.emit(ev.ExecutionStarted(queueId="q1", cellId="c1", runtimeSessionId="s", startedAt=NOW))
    nb.emit(
        ev.ExecutionCancelled(
            queueId="q1", cellId="c1", cancelledBy="auto", actorId="ci", reason="timeout"
        )
    )
    assert queue_status(st, "q1") == "cancelled"
    assert cell_state(st, "c1") == "idle"
    assert st.presence["ci"] == "c1"  # actorId wins over cancelledBy
    nb.emit(completed("q1", "c1", "error"))
    assert queue_status(st, "q1") == "failed"
    assert cell_state(st, "c1") == "error"


def test_all_executions_cancelled(nb: Notebook) -> None:
    st = nb.emit(*(created(f"c{i}", f"{i}") for i in range(5)))
    for i in range(5):
        nb.emit(requested(f"q{i}", f"c{i}"))
    nb.emit(ev.ExecutionAssigned(queueId="q1", runtimeSessionId="s"))
    nb.emit(ev.ExecutionStarted(queueId="q2", cellId="c2", runtimeSessionId="s", startedAt=NOW))
    nb.emit(completed("q3", "c3", "success"), completed("q4", "c4", "error"))
    nb.raw("v1.AllExecutionsCancelled", None)
    assert [q.status for q in st.queue.values()] == [
        "cancelled",
        "cancelled",
        "cancelled",
        "completed",
        "failed",
    ]
    assert [c.execution_state for c in st.ordered_cells()] == [
        "idle",
        "idle",
        "idle",
        "completed",
        "error",
    ]


def test_multiple_execution_requested_without_presence(nb: Notebook) -> None:
    st = nb.emit(created("a", "m"), created("b", "n"))
    presence_before = dict(st.presence)
    nb.emit(
        ev.MultipleExecutionRequested(
            requestedBy="ui",
            cellsInfo=[
                ev.CellExecutionInfo(id="b", executionCount=1, queueId="qb"),
                ev.CellExecutionInfo(id="a", executionCount=2, queueId="qa"),
            ],
        )
    )
    assert [q.id for q in st.pending_queue()] == ["qb", "qa"]
    assert st.cells["a"].execution_count == 2
    assert cell_state(st, "b") == "queued"
    assert st.presence == presence_before


def test_insert_ignore_for_cells_and_queue(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), created("c1", "z", "markdown"))
    assert (st.cells["c1"].fractional_index, st.cells["c1"].cell_type) == ("m", "code")
    nb.emit(requested("q1", "c1", 1), requested("q1", "c1", 5))
    assert st.queue["q1"].execution_count == 1  # the row is kept...
    assert st.cells["c1"].execution_count == 5  # ...but the cell update still applies


def test_output_added_replaces_by_id(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), terminal("o1", "c1", 0, "a"), terminal("o2", "c1", 1, "b"))
    nb.emit(terminal("o1", "c1", 2, "c"))
    assert [(o.id, o.data) for o in st.cell_outputs("c1")] == [("o2", "b"), ("o1", "c")]
    assert len(st.outputs) == 2


def test_pending_clear_applies_on_next_added_output(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), created("c2", "n"))
    nb.emit(terminal("o1", "c1", 0), terminal("o2", "c1", 1), terminal("x1", "c2", 0))
    nb.emit(ev.CellOutputsCleared(cellId="c1", wait=True, clearedBy="runtime-r1"))
    assert [o.id for o in st.cell_outputs("c1")] == ["o1", "o2"]  # nothing cleared yet
    assert st.pending_clears == {"c1": "runtime-r1"}
    assert st.presence["runtime-r1"] == "c1"

    # An update of a display does not consume the pending clear.
    nb.emit(ev.MultimediaDisplayOutputUpdated(displayId="d", representations={"text/plain": TEXT}))
    assert "c1" in st.pending_clears

    nb.emit(
        ev.MultimediaResultOutputAdded(
            id="o3", cellId="c1", position=0, representations={"text/plain": TEXT}, executionCount=1
        )
    )
    assert [o.id for o in st.cell_outputs("c1")] == ["o3"]
    assert st.pending_clears == {}
    assert [o.id for o in st.cell_outputs("c2")] == ["x1"]  # other cells untouched


def test_immediate_clear_and_all_outputs_cleared(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), created("c2", "n"))
    nb.emit(terminal("o1", "c1", 0), terminal("o2", "c2", 0))
    nb.emit(ev.CellOutputsCleared(cellId="c1", wait=False, clearedBy="u"))
    assert list(st.outputs) == ["o2"]
    nb.emit(ev.CellOutputsCleared(cellId="c2", wait=True, clearedBy="u"))
    nb.emit(ev.AllOutputsCleared(clearedBy="u"))
    assert st.outputs == {}
    assert st.pending_clears == {}


def test_output_deltas_make_final_content(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"))
    nb.emit(
        ev.MarkdownOutputAdded(id="o1", cellId="c1", position=0, content=ev.InlineMedia(data="A"))
    )
    for seq, (did, text) in [(2, ("d3", "D")), (0, ("d1", "B")), (1, ("d2", "C"))]:
        nb.emit(ev.MarkdownOutputAppended2(id=did, outputId="o1", delta=text, sequenceNumber=seq))
    out = st.outputs["o1"]
    assert out.data == "A"
    assert st.final_content(out) == "ABCD"
    assert st.final_content("o1") == "ABCD"
    nb.emit(ev.TerminalOutputAppended2(id="d1", outputId="o1", delta="dup", sequenceNumber=9))
    assert st.final_content(out) == "ABCD"  # a repeated delta id is not inserted twice
    assert set(st.deltas) == {"d1", "d2", "d3"}
    # Upstream leaves orphaned delta rows that no query reaches; we prune them (memory).
    nb.emit(
        ev.MarkdownOutputAdded(id="o9", cellId="c9", position=0, content=ev.InlineMedia(data="x"))
    )
    nb.emit(ev.MarkdownOutputAppended2(id="d9", outputId="o9", delta="y", sequenceNumber=0))
    nb.emit(ev.CellOutputsCleared(cellId="c1", wait=False, clearedBy="u"))
    assert list(st.outputs) == ["o9"]
    assert set(st.output_deltas) == {"d9"}  # only the cleared outputs' deltas went
    assert st.final_content("o1") == ""
    assert st.final_content("o9") == "xy"
    nb.emit(ev.AllOutputsCleared(clearedBy="u"))
    assert st.output_deltas == {} and st.cell_outputs("c9") == []


def test_outputs_are_indexed_per_cell_through_every_change(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), created("c2", "n"))
    nb.emit(
        terminal("o1", "c1", 1, "a"), terminal("o2", "c2", 0, "b"), terminal("o3", "c1", 0, "c")
    )
    assert [o.id for o in st.cell_outputs("c1")] == ["o3", "o1"]
    nb.emit(terminal("o1", "c2", 5, "moved"))  # same id, other cell: a replace moves it
    assert [o.id for o in st.cell_outputs("c1")] == ["o3"]
    assert [o.id for o in st.cell_outputs("c2")] == ["o2", "o1"]
    nb.emit(ev.CellOutputsCleared(cellId="c2", wait=True, clearedBy="u"))
    assert [o.id for o in st.cell_outputs("c2")] == ["o2", "o1"]
    nb.emit(terminal("o4", "c2", 0, "after"))  # consumes the pending clear
    assert [o.id for o in st.cell_outputs("c2")] == ["o4"] and st.pending_clears == {}
    for cell in ("c1", "c2"):  # the index agrees with the table, row for row
        assert st.cell_outputs(cell) == sorted(
            (o for o in st.outputs.values() if o.cell_id == cell), key=lambda o: o.position
        )


def test_a_clear_now_drops_the_pending_clear_of_the_cell(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), terminal("o1", "c1", 0, "a"))
    nb.emit(ev.CellOutputsCleared(cellId="c1", wait=True, clearedBy="u"))
    nb.emit(ev.CellOutputsCleared(cellId="c1", wait=False, clearedBy="u"))
    assert st.outputs == {} and st.pending_clears == {}
    nb.emit(terminal("o2", "c1", 0, "b"))
    assert [o.id for o in st.cell_outputs("c1")] == ["o2"]  # as if the pending row were kept


def test_v1_append_concatenates_onto_data(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), terminal("o1", "c1", 0, "a"))
    nb.emit(ev.TerminalOutputAppended(outputId="o1", content=ev.InlineMedia(data="b")))
    nb.emit(ev.TerminalOutputAppended(outputId="missing", content=ev.InlineMedia(data="b")))
    assert st.outputs["o1"].data == "ab"
    assert list(st.outputs) == ["o1"]


def test_display_updates_by_display_id(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), created("c2", "n"))
    png = ev.InlineMedia(data="iVBOR")

    def display(oid: str, cell: str, data: str, display_id: str | None) -> ev.RuntEvent:
        return ev.MultimediaDisplayOutputAdded(
            id=oid,
            cellId=cell,
            position=0,
            representations={"text/plain": ev.InlineMedia(data=data)},
            displayId=display_id,
        )

    nb.emit(display("o1", "c1", "v1", "bar"), display("o2", "c2", "other", None))
    nb.emit(display("o3", "c2", "v2", "bar"))  # Added with the same id rewrites o1 too
    assert (st.outputs["o1"].data, st.outputs["o3"].data) == ("v2", "v2")
    assert st.outputs["o2"].data == "other"

    nb.emit(
        ev.MultimediaDisplayOutputUpdated(
            displayId="bar", representations={"text/plain": TEXT, "image/png": png}
        )
    )
    for oid in ("o1", "o3"):
        row = st.outputs[oid]
        assert (row.mime_type, row.data) == ("image/png", "iVBOR")
        assert row.representations == {"text/plain": TEXT, "image/png": png}
    assert st.outputs["o2"].data == "other"

    nb.emit(
        ev.MultimediaDisplayOutputUpdated(displayId="nope", representations={"text/plain": TEXT})
    )
    assert len(st.outputs) == 3  # Updated never creates


def test_flattened_columns(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"))
    nb.emit(
        ev.ErrorOutputAdded(
            id="e",
            cellId="c1",
            position=0,
            content=ev.InlineMedia(data={"ename": "ValueError", "evalue": "é", "traceback": []}),
        ),
        ev.TerminalOutputAdded(
            id="t",
            cellId="c1",
            position=1,
            content=ev.ArtifactMedia(artifactId="art", metadata={}),
            streamName="stderr",
        ),
        ev.MultimediaResultOutputAdded(
            id="r",
            cellId="c1",
            position=2,
            representations={"text/plain": TEXT, "text/html": ev.InlineMedia(data="<b>")},
            executionCount=3,
        ),
        ev.MultimediaDisplayOutputAdded(
            id="d",
            cellId="c1",
            position=3,
            representations={"application/x-unknown": TEXT},
        ),
    )
    err = st.outputs["e"]
    assert (err.output_type, err.mime_type) == ("error", "application/json")
    assert json.loads(err.data or "") == {"ename": "ValueError", "evalue": "é", "traceback": []}
    assert err.data == '{"ename":"ValueError","evalue":"é","traceback":[]}'  # JSON.stringify
    term = st.outputs["t"]
    assert (term.data, term.artifact_id, term.stream_name, term.metadata) == (
        None,
        "art",
        "stderr",
        {},
    )
    res = st.outputs["r"]
    assert (res.mime_type, res.data, res.execution_count) == ("text/html", "<b>", 3)
    disp = st.outputs["d"]
    assert (disp.mime_type, disp.data) == ("text/plain", "")  # no preferred mime: defaults


def test_session_lifecycle_and_liveness(nb: Notebook) -> None:
    st = nb.emit(started_session("s1"))
    s = st.sessions["s1"]
    assert (s.status, s.is_active, s.can_execute_code) == ("starting", True, True)
    assert st.live_session(NOW) is None

    nb.emit(ev.RuntimeSessionStatusChanged(sessionId="s1", status="ready"))
    assert renewal(s) == (None, None)
    assert st.live_session(NOW) is s  # null renewal = unknown, not expired (0.11 agents)

    nb.emit(ev.RuntimeSessionStatusChanged(sessionId="s1", status="busy"))
    assert st.live_session(NOW) is s
    nb.emit(ev.RuntimeSessionStatusChanged(sessionId="s1", status="restarting"))
    assert st.live_session(NOW) is None
    nb.emit(ev.RuntimeSessionStatusChanged(sessionId="s1", status="ready"))

    renewed = NOW - timedelta(seconds=10)
    nb.emit(ev.RuntimeSessionRenewal(sessionId="s1", renewedAt=renewed, validForMs=30000))
    assert renewal(s) == (renewed, renewed + timedelta(seconds=30))
    assert st.live_session(NOW) is s
    assert st.live_session(renewed + timedelta(seconds=45)) is s  # 45 s is still fine
    assert st.live_session(renewed + timedelta(seconds=45, milliseconds=1)) is None
    assert st.live_session((NOW - timedelta(hours=1)).replace(tzinfo=None)) is s  # naive = UTC

    # A short validity expires the session before the 45 s renewal gap does.
    nb.emit(ev.RuntimeSessionRenewal(sessionId="s1", renewedAt=renewed, validForMs=1000))
    assert st.live_session(renewed + timedelta(seconds=16)) is s
    assert st.live_session(renewed + timedelta(seconds=16, milliseconds=1)) is None

    nb.emit(ev.RuntimeSessionTerminated(sessionId="s1", reason="shutdown"))
    assert (s.status, s.is_active) == ("terminated", False)
    assert st.live_session(NOW) is None

    # Starting the same session again replaces the row: active, starting, renewal reset.
    nb.emit(started_session("s1"))
    again = st.sessions["s1"]
    assert (again.status, again.is_active, again.last_renewed_at) == ("starting", True, None)


def test_live_session_picks_first_healthy_and_capability(nb: Notebook) -> None:
    st = nb.emit(started_session("old"), started_session("new", sql=True))
    nb.emit(
        ev.RuntimeSessionStatusChanged(sessionId="old", status="ready"),
        ev.RuntimeSessionRenewal(
            sessionId="old", renewedAt=NOW - timedelta(minutes=5), validForMs=30000
        ),
        ev.RuntimeSessionStatusChanged(sessionId="new", status="ready"),
    )
    live = st.live_session(NOW)
    assert live is not None and live.session_id == "new"  # the stale one is skipped
    assert [s.session_id for s in st.sessions_capable("code")] == ["old", "new"]
    assert [s.session_id for s in st.sessions_capable("code", now=NOW)] == ["new"]
    assert [s.session_id for s in st.sessions_capable("sql")] == ["new"]
    assert st.sessions_capable("ai") == []
    sql = st.live_session(NOW, capability="sql")
    assert sql is not None and sql.session_id == "new"
    assert st.live_session(NOW, capability="ai") is None


def test_unknown_and_malformed_events_are_ignored(
    nb: Notebook, caplog: pytest.LogCaptureFixture
) -> None:
    st = nb.emit(created("c1", "m"))
    version = st.version
    nb.raw("v1.ToolApprovalRequested", {"toolCallId": "t", "cellId": "c1"})
    nb.raw("v7.SomethingNew", None)
    assert st.version == version
    with caplog.at_level(logging.WARNING):
        nb.raw("v1.ExecutionRequested", {"queueId": "q"})
    assert st.version == version
    assert st.queue == {}
    assert "malformed v1.ExecutionRequested" in caplog.text


def test_version_counts_applied_events(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), ev.CellSourceChanged(id="nope", source="x", modifiedBy="u"))
    assert st.version == 2  # an update that matches no row is still an applied event


def test_v1_positions_and_ordering(nb: Notebook) -> None:
    st = nb.emit(
        ev.CellCreated(id="p36", cellType="code", position=36, createdBy="u"),
        ev.CellCreated(id="p0", cellType="code", position=0.9, createdBy="u", actorId="a"),
        ev.CellCreated(id="p35", cellType="code", position=35, createdBy="u"),
        created("v2", "0h"),
    )
    assert {c.id: c.fractional_index for c in st.cells.values()} == {
        "p36": "a10",
        "p0": "a0",
        "p35": "az",
        "v2": "0h",
    }
    # byte order: "a10" < "az" -- the v1 mapping sorts right only below 36, as documented.
    assert [c.id for c in st.ordered_cells()] == ["v2", "p0", "p36", "p35"]
    assert st.presence["a"] == "p0"
    nb.emit(ev.CellMoved(id="p36", newPosition=-1.5))
    assert st.cells["p36"].fractional_index == "a-2"
    nb.emit(ev.CellMoved2(id="p36", fractionalIndex="1"))
    assert [c.id for c in st.ordered_cells()][:2] == ["v2", "p36"]


def test_cell_edits_presence_and_delete_keeps_outputs(nb: Notebook) -> None:
    st = nb.emit(created("c1", "m"), ev.PresenceSet(userId="automation-client"))
    assert st.presence == {"auto": "c1", "automation-client": None}
    nb.emit(ev.CellTypeChanged(id="c1", cellType="markdown"))
    assert st.cells["c1"].cell_type == "markdown"
    assert "None" not in st.presence and len(st.presence) == 2  # no actorId: no presence
    nb.emit(
        ev.CellSourceVisibilityToggled(id="c1", sourceVisible=False, actorId="v"),
        ev.CellOutputVisibilityToggled(id="c1", outputVisible=False),
        ev.CellAiContextVisibilityToggled(id="c1", aiContextVisible=False),
    )
    cell = st.cells["c1"]
    assert (cell.source_visible, cell.output_visible, cell.ai_context_visible) == (
        False,
        False,
        False,
    )
    assert st.presence["v"] == "c1"
    nb.emit(terminal("o1", "c1", 0), ev.CellDeleted(id="c1", actorId="d"))
    assert st.cells == {}
    assert list(st.outputs) == ["o1"]


def test_notebook_metadata_and_actors(nb: Notebook) -> None:
    st = nb.emit(
        ev.NotebookInitialized(id="nb1", title="Run 1", ownerId="automation"),
        ev.NotebookTitleChanged(title="Run 2"),
        ev.NotebookMetadataSet(key="runtimeType", value="python3"),
        ev.Debug(id="dbg"),
        ev.ActorProfileSet(id="u", type="human", displayName="U"),
        ev.ActorProfileSet(id="u", type="human", displayName="U2", avatar="a.png"),
    )
    assert st.metadata == {"title": "Run 2", "ownerId": "automation", "runtimeType": "python3"}
    assert st.debug == {"nb1", "dbg"}
    assert (st.actors["u"].display_name, st.actors["u"].avatar) == ("U2", "a.png")


def test_sql_cell_connection_and_result_variable(nb: Notebook) -> None:
    st = nb.emit(
        created("c1", "m"),
        ev.SqlConnectionChanged(cellId="c1", connectionId="warehouse", changedBy="u"),
        ev.SqlResultVariableChanged(cellId="c1", resultVariable="df", changedBy="u"),
        ev.SqlConnectionChanged(cellId="gone", connectionId="x", changedBy="u"),  # no such cell
    )
    cell = st.cells["c1"]
    assert (cell.sql_connection_id, cell.sql_result_variable) == ("warehouse", "df")
    st = nb.emit(ev.SqlConnectionChanged(cellId="c1", changedBy="u"))  # back to the default
    assert st.cells["c1"].sql_connection_id is None
    assert "gone" not in st.cells


def test_materializer_accepts_livestore_events() -> None:
    """The Materializer contract: the store hands us its own ``Event`` objects."""
    log = [
        Event(name=n, args=a, seq_num=i + 1, parent_seq_num=i, client_id="c", session_id="s")
        for i, (n, a) in enumerate(
            [
                created("c1", "m").wire(),
                requested("q1", "c1").wire(),
                ("v1.AllExecutionsCancelled", None),
            ]
        )
    ]
    state = materialize(log)
    assert state.queue["q1"].status == "cancelled"
    fresh: NotebookState = NotebookMaterializer().initial()
    assert fresh.version == 0 and fresh.cells == {}
