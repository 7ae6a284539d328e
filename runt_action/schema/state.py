"""The runt tables, materialized in memory from the event log (runt-schema §2).

The sync server stores only events; every client derives the tables itself. We mirror the
anode SQLite materializers statement for statement (insert-ignore vs replace, unconditional
updates, presence side effects) so our view of a notebook equals the UI's. Dicts keep
SQLite's natural order: insertion order, and a "replace" moves the row to the end.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol, TypeVar

from pydantic import ValidationError

from runt_action.schema.events import (
    ActorProfileSet,
    ActorType,
    AiSettingsChanged,
    AllExecutionsCancelled,
    AllOutputsCleared,
    ArtifactMedia,
    CellAiContextVisibilityToggled,
    CellCreated,
    CellCreated2,
    CellDeleted,
    CellMoved,
    CellMoved2,
    CellOutputsCleared,
    CellOutputVisibilityToggled,
    CellSourceChanged,
    CellSourceVisibilityToggled,
    CellTypeChanged,
    Debug,
    ErrorOutputAdded,
    ExecutionAssigned,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionRequested,
    ExecutionStarted,
    MarkdownOutputAdded,
    MarkdownOutputAppended,
    MarkdownOutputAppended2,
    Media,
    MultimediaDisplayOutputAdded,
    MultimediaDisplayOutputUpdated,
    MultimediaResultOutputAdded,
    MultipleExecutionRequested,
    NotebookInitialized,
    NotebookMetadataSet,
    NotebookTitleChanged,
    PresenceSet,
    RuntEvent,
    RuntimeSessionRenewal,
    RuntimeSessionStarted,
    RuntimeSessionStatusChanged,
    RuntimeSessionTerminated,
    SqlConnectionChanged,
    SqlResultVariableChanged,
    TerminalOutputAdded,
    TerminalOutputAppended,
    TerminalOutputAppended2,
    ToolApprovalRequested,
    ToolApprovalResponded,
    decode,
)

__all__ = [
    "RENEWAL_TOLERANCE",
    "RUNTIME_SESSION_TIMEOUT",
    "Actor",
    "Capability",
    "Cell",
    "EventLike",
    "ExecutionState",
    "NotebookMaterializer",
    "NotebookState",
    "Output",
    "OutputDelta",
    "OutputType",
    "QueueEntry",
    "QueueStatus",
    "RuntimeSession",
    "RuntimeStatus",
    "ToolApproval",
    "apply_event",
    "materialize",
]

_log = logging.getLogger(__name__)

ExecutionState = Literal["idle", "queued", "running", "completed", "error"]
QueueStatus = Literal["pending", "assigned", "executing", "completed", "failed", "cancelled"]
RuntimeStatus = Literal["starting", "ready", "busy", "restarting", "terminated"]
OutputType = Literal["multimedia_display", "multimedia_result", "terminal", "markdown", "error"]
Capability = Literal["code", "sql", "ai"]

RUNTIME_SESSION_TIMEOUT: Final = timedelta(milliseconds=30_000)
"""``RUNTIME_SESSION_TIMEOUT_MS``: a renewal is valid this long."""
RENEWAL_TOLERANCE: Final = timedelta(seconds=15)
"""The UI's allowance for clock skew on top of the timeout (45 s in all)."""

# selectPrimaryRepresentation's order for displays; results use a shorter list.
_DISPLAY_PREFERENCE: Final = (
    "application/vnd.plotly.v1+json",
    "application/vnd.vegalite.v6+json",
    "application/vnd.vegalite.v5+json",
    "application/vnd.vegalite.v4+json",
    "application/vnd.vegalite.v3+json",
    "application/vnd.vegalite.v2+json",
    "application/vnd.vega.v5+json",
    "application/vnd.vega.v4+json",
    "application/vnd.vega.v3+json",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
    "application/vnd.dataresource+json",
    "application/vdom.v1+json",
    "application/geo+json",
    "application/json",
    "application/javascript",
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/latex",
    "text/markdown",
    "text/plain",
)
_RESULT_PREFERENCE: Final = (
    "text/html",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/json",
    "text/plain",
)


# -- rows ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    id: str
    cell_type: str
    created_by: str
    source: str = ""
    fractional_index: str | None = None
    execution_count: int | None = None
    execution_state: ExecutionState = "idle"
    assigned_runtime_session: str | None = None
    last_execution_duration_ms: float | None = None
    source_visible: bool = True
    output_visible: bool = True
    ai_context_visible: bool = True
    sql_connection_id: str | None = None
    sql_result_variable: str | None = None
    ai_provider: str | None = None
    ai_model: str | None = None
    ai_settings: dict[str, Any] | None = None  # temperature, maxTokens, systemPrompt, seed


@dataclass(slots=True)
class ToolApproval:
    """``toolApprovals``: a tool call an AI cell asked to make, and who answered it how."""

    tool_call_id: str
    cell_id: str
    tool_name: str
    status: str = "pending"  # pending | approved_once | approved_always | denied
    approved_by: str | None = None
    requested_at: datetime | None = None
    responded_at: datetime | None = None


@dataclass(slots=True)
class QueueEntry:
    id: str
    cell_id: str
    execution_count: int
    requested_by: str
    status: QueueStatus = "pending"
    assigned_runtime_session: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    execution_duration_ms: float | None = None


@dataclass(slots=True)
class Output:
    id: str
    cell_id: str
    output_type: OutputType
    position: float
    stream_name: str | None = None
    execution_count: int | None = None
    display_id: str | None = None
    data: str | None = None
    artifact_id: str | None = None
    mime_type: str | None = None
    metadata: dict[str, Any] | None = None
    representations: dict[str, Media] | None = None


@dataclass(slots=True)
class OutputDelta:
    id: str
    output_id: str
    delta: str
    sequence_number: float


@dataclass(slots=True)
class RuntimeSession:
    session_id: str
    runtime_id: str
    runtime_type: str = "python3"
    status: RuntimeStatus = "starting"
    is_active: bool = True
    can_execute_code: bool = False
    can_execute_sql: bool = False
    can_execute_ai: bool = False
    available_ai_models: Any = None
    last_renewed_at: datetime | None = None
    expires_at: datetime | None = None
    # Ours, not an anode column: why it ended (RuntimeSessionTerminated.reason), so a reader
    # can tell a runtime that died ("error") from one that shut down.
    terminated_reason: str | None = None

    def can_execute(self, kind: Capability) -> bool:
        if kind == "code":
            return self.can_execute_code
        if kind == "sql":
            return self.can_execute_sql
        return self.can_execute_ai

    def is_live(self, now: datetime) -> bool:
        """The UI health rule: active, ready/busy, renewed recently *when renewal is known*.

        0.11/0.13 agents never renew; their null ``last_renewed_at`` means unknown, not dead.
        """
        if not self.is_active or self.status not in ("ready", "busy"):
            return False
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
        max_gap = RUNTIME_SESSION_TIMEOUT + RENEWAL_TOLERANCE
        if self.last_renewed_at is not None and now - self.last_renewed_at > max_gap:
            return False
        return not (self.expires_at is not None and now - self.expires_at > RENEWAL_TOLERANCE)


@dataclass(slots=True)
class Actor:
    id: str
    type: ActorType
    display_name: str
    avatar: str | None = None


# -- state --------------------------------------------------------------------------------


@dataclass(slots=True)
class NotebookState:
    """All runt tables of one notebook; ``version`` counts applied events (cheap change test)."""

    metadata: dict[str, str] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)
    queue: dict[str, QueueEntry] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    output_deltas: dict[str, OutputDelta] = field(default_factory=dict)
    pending_clears: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, RuntimeSession] = field(default_factory=dict)
    presence: dict[str, str | None] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    tool_approvals: dict[str, ToolApproval] = field(default_factory=dict)
    debug: set[str] = field(default_factory=set)
    version: int = 0
    _deltas_by_output: dict[str, list[OutputDelta]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # cell id -> its output rows by id, in table order: per-cell lookups cost O(that cell).
    _outputs_by_cell: dict[str, dict[str, Output]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def deltas(self) -> dict[str, OutputDelta]:
        """Alias of ``output_deltas`` (the name docs/architecture.md first used)."""
        return self.output_deltas

    def ordered_cells(self) -> list[Cell]:
        """``ORDER BY fractionalIndex ASC``: byte order, NULL keys first, ties by insertion."""
        return sorted(
            self.cells.values(),
            key=lambda c: (c.fractional_index is not None, c.fractional_index or ""),
        )

    def cell_outputs(self, cell_id: str) -> list[Output]:
        """A cell's outputs by ``position`` (ties keep insertion order)."""
        rows = list(self._outputs_by_cell.get(cell_id, {}).values())
        rows.sort(key=lambda o: o.position)
        return rows

    def final_content(self, output: Output | str) -> str:
        """``getFinalContent``: the output's data plus its deltas by ``sequenceNumber``."""
        row = self.outputs.get(output) if isinstance(output, str) else output
        if row is None:
            return ""
        deltas = sorted(self._deltas_by_output.get(row.id, ()), key=lambda d: d.sequence_number)
        return (row.data or "") + "".join(d.delta for d in deltas)

    def live_session(
        self, now: datetime, *, capability: Capability | None = None
    ) -> RuntimeSession | None:
        """The first session (in table order) that is live, optionally with a capability."""
        for session in self.sessions.values():
            if session.is_live(now) and (capability is None or session.can_execute(capability)):
                return session
        return None

    def pending_queue(self) -> list[QueueEntry]:
        """Pending rows in insertion order: what a runtime would claim next."""
        return [q for q in self.queue.values() if q.status == "pending"]

    def sessions_capable(
        self, kind: Capability, *, now: datetime | None = None
    ) -> list[RuntimeSession]:
        """Active sessions advertising ``kind``; only live ones when ``now`` is given."""
        return [
            s
            for s in self.sessions.values()
            if s.is_active and s.can_execute(kind) and (now is None or s.is_live(now))
        ]


# -- materializer -------------------------------------------------------------------------


class EventLike(Protocol):
    """What a synced event looks like to us (``livestore.events.Event`` fits), socket-free."""

    @property
    def name(self) -> str: ...

    @property
    def args(self) -> Any: ...


class NotebookMaterializer:
    """The livestore ``Materializer[NotebookState]``: unknown or malformed events are skipped."""

    def initial(self) -> NotebookState:
        return NotebookState()

    def apply(self, state: NotebookState, event: EventLike) -> None:
        try:
            decoded = decode(event.name, event.args)
        except ValidationError as exc:
            _log.warning("ignoring malformed %s event: %s", event.name, exc.errors()[:1])
            return
        if decoded is not None:
            apply_event(state, decoded)


def materialize(events: Iterable[EventLike]) -> NotebookState:
    """Fold a whole log; handy for reports and tests."""
    materializer = NotebookMaterializer()
    state = materializer.initial()
    for event in events:
        materializer.apply(state, event)
    return state


def apply_event(state: NotebookState, event: RuntEvent) -> None:
    """Apply one typed event exactly like the anode materializer of the same name."""
    _apply(state, event)
    state.version += 1


def _apply(state: NotebookState, ev: RuntEvent) -> None:
    match ev:
        case Debug():
            state.debug.add(ev.id)
        case NotebookInitialized():
            _upsert(state.metadata, "title", ev.title)
            _upsert(state.metadata, "ownerId", ev.ownerId)
            state.debug.add(ev.id)
        case NotebookTitleChanged():
            _upsert(state.metadata, "title", ev.title)
        case NotebookMetadataSet():
            _upsert(state.metadata, ev.key, ev.value)
        case CellCreated():
            key = "a" + _js_base36(math.floor(ev.position))
            _create_cell(state, ev.id, ev.cellType, key, ev.createdBy)
            _presence(state, ev.actorId or ev.createdBy, ev.id)
        case CellCreated2():
            _create_cell(state, ev.id, ev.cellType, ev.fractionalIndex, ev.createdBy)
            _presence(state, ev.createdBy, ev.id)
        case CellSourceChanged():
            if cell := state.cells.get(ev.id):
                cell.source = ev.source
            _presence(state, ev.modifiedBy, ev.id)
        case CellTypeChanged():
            if cell := state.cells.get(ev.id):
                cell.cell_type = ev.cellType
            _presence_if(state, ev.actorId, ev.id)
        case CellDeleted():
            state.cells.pop(ev.id, None)  # outputs stay, as upstream
            _presence_if(state, ev.actorId, ev.id)
        case CellMoved():
            if cell := state.cells.get(ev.id):
                cell.fractional_index = "a" + _js_base36(math.floor(ev.newPosition))
            _presence_if(state, ev.actorId, ev.id)
        case CellMoved2():
            if cell := state.cells.get(ev.id):
                cell.fractional_index = ev.fractionalIndex
            _presence_if(state, ev.actorId, ev.id)
        case CellSourceVisibilityToggled():
            if cell := state.cells.get(ev.id):
                cell.source_visible = ev.sourceVisible
            _presence_if(state, ev.actorId, ev.id)
        case CellOutputVisibilityToggled():
            if cell := state.cells.get(ev.id):
                cell.output_visible = ev.outputVisible
            _presence_if(state, ev.actorId, ev.id)
        case CellAiContextVisibilityToggled():
            if cell := state.cells.get(ev.id):
                cell.ai_context_visible = ev.aiContextVisible
            _presence_if(state, ev.actorId, ev.id)
        case SqlConnectionChanged():
            if cell := state.cells.get(ev.cellId):
                cell.sql_connection_id = ev.connectionId
        case SqlResultVariableChanged():
            if cell := state.cells.get(ev.cellId):
                cell.sql_result_variable = ev.resultVariable
        case AiSettingsChanged():
            if cell := state.cells.get(ev.cellId):
                cell.ai_provider, cell.ai_model = ev.provider, ev.model
                cell.ai_settings = ev.settings.model_dump(mode="json")
        case ToolApprovalRequested():
            _upsert(
                state.tool_approvals,
                ev.toolCallId,
                ToolApproval(ev.toolCallId, ev.cellId, ev.toolName, requested_at=ev.requestedAt),
            )
        case ToolApprovalResponded():
            if approval := state.tool_approvals.get(ev.toolCallId):
                approval.status, approval.approved_by = ev.status, ev.approvedBy
                approval.responded_at = ev.respondedAt
        case PresenceSet():
            _presence(state, ev.userId, ev.cellId)
        case ActorProfileSet():
            _upsert(state.actors, ev.id, Actor(ev.id, ev.type, ev.displayName, ev.avatar))
        case _:
            _apply_runtime(state, ev)


def _apply_runtime(state: NotebookState, ev: RuntEvent) -> None:
    match ev:
        case RuntimeSessionStarted():
            caps = ev.capabilities
            session = RuntimeSession(
                session_id=ev.sessionId,
                runtime_id=ev.runtimeId,
                runtime_type=ev.runtimeType,
                can_execute_code=caps.canExecuteCode,
                can_execute_sql=caps.canExecuteSql,
                can_execute_ai=caps.canExecuteAi,
                available_ai_models=(
                    caps.availableAiModels if _js_truthy(caps.availableAiModels) else None
                ),
            )
            _upsert(state.sessions, ev.sessionId, session)  # replace resets renewal
        case RuntimeSessionStatusChanged():
            if s := state.sessions.get(ev.sessionId):
                s.status = ev.status
        case RuntimeSessionTerminated():
            if s := state.sessions.get(ev.sessionId):
                s.status, s.is_active = "terminated", False
                s.terminated_reason = ev.reason
        case RuntimeSessionRenewal():
            if s := state.sessions.get(ev.sessionId):
                s.last_renewed_at = ev.renewedAt
                s.expires_at = ev.renewedAt + timedelta(milliseconds=ev.validForMs)
        case _:
            _apply_execution(state, ev)


def _apply_execution(state: NotebookState, ev: RuntEvent) -> None:
    match ev:
        case ExecutionRequested():
            _request(state, ev.queueId, ev.cellId, int(ev.executionCount), ev.requestedBy)
            _presence(state, ev.actorId or ev.requestedBy, ev.cellId)
        case MultipleExecutionRequested():
            for info in ev.cellsInfo:
                _request(state, info.queueId, info.id, int(info.executionCount), ev.requestedBy)
        case ExecutionAssigned():
            if q := state.queue.get(ev.queueId):
                q.status, q.assigned_runtime_session = "assigned", ev.runtimeSessionId
        case ExecutionStarted():
            if q := state.queue.get(ev.queueId):
                q.status, q.started_at = "executing", ev.startedAt
            if cell := state.cells.get(ev.cellId):
                cell.execution_state = "running"
                cell.assigned_runtime_session = ev.runtimeSessionId
        case ExecutionCompleted():
            ok = ev.status == "success"
            # Unconditional, as upstream: a late completion turns "cancelled" into "failed".
            if q := state.queue.get(ev.queueId):
                q.status = "completed" if ok else "failed"
                q.completed_at = ev.completedAt
                q.execution_duration_ms = ev.executionDurationMs
            if cell := state.cells.get(ev.cellId):
                cell.execution_state = "completed" if ok else "error"
                cell.last_execution_duration_ms = ev.executionDurationMs
        case ExecutionCancelled():
            if q := state.queue.get(ev.queueId):
                q.status = "cancelled"
            if cell := state.cells.get(ev.cellId):
                cell.execution_state = "idle"
            _presence(state, ev.actorId or ev.cancelledBy, ev.cellId)
        case AllExecutionsCancelled():
            for q in state.queue.values():
                if q.status in ("pending", "assigned", "executing"):
                    q.status = "cancelled"
            for cell in state.cells.values():
                if cell.execution_state in ("queued", "running"):
                    cell.execution_state = "idle"
        case _:
            _apply_output(state, ev)


def _apply_output(state: NotebookState, ev: RuntEvent) -> None:
    match ev:
        case MultimediaDisplayOutputAdded():
            _consume_pending_clear(state, ev.cellId)
            if ev.displayId:
                _update_displays(state, ev.displayId, ev.representations)
            mime, data = _primary(ev.representations, _DISPLAY_PREFERENCE)
            _add_output(
                state,
                Output(
                    id=ev.id,
                    cell_id=ev.cellId,
                    output_type="multimedia_display",
                    position=ev.position,
                    display_id=ev.displayId or None,
                    data=data,
                    mime_type=mime,
                    representations=dict(ev.representations),
                ),
            )
        case MultimediaDisplayOutputUpdated():
            _update_displays(state, ev.displayId, ev.representations)
        case MultimediaResultOutputAdded():
            _consume_pending_clear(state, ev.cellId)
            mime, data = _primary(ev.representations, _RESULT_PREFERENCE)
            _add_output(
                state,
                Output(
                    id=ev.id,
                    cell_id=ev.cellId,
                    output_type="multimedia_result",
                    position=ev.position,
                    execution_count=int(ev.executionCount),
                    data=data,
                    mime_type=mime,
                    representations=dict(ev.representations),
                ),
            )
        case TerminalOutputAdded():
            _consume_pending_clear(state, ev.cellId)
            row = _content_output(ev.id, ev.cellId, "terminal", ev.position, ev.content)
            row.stream_name, row.mime_type = ev.streamName, "text/plain"
            _add_output(state, row)
        case MarkdownOutputAdded():
            _consume_pending_clear(state, ev.cellId)
            row = _content_output(ev.id, ev.cellId, "markdown", ev.position, ev.content)
            row.mime_type = "text/markdown"
            _add_output(state, row)
        case ErrorOutputAdded():
            _consume_pending_clear(state, ev.cellId)
            row = _content_output(ev.id, ev.cellId, "error", ev.position, ev.content)
            row.mime_type = "application/json"
            if not isinstance(ev.content, ArtifactMedia):
                row.data = json.dumps(ev.content.data, separators=(",", ":"), ensure_ascii=False)
            _add_output(state, row)
        case TerminalOutputAppended() | MarkdownOutputAppended():
            if existing := state.outputs.get(ev.outputId):
                extra = "" if isinstance(ev.content, ArtifactMedia) else _js_string(ev.content.data)
                existing.data = (existing.data or "") + extra
        case TerminalOutputAppended2() | MarkdownOutputAppended2():
            if ev.id not in state.output_deltas:  # a plain INSERT: duplicates would fail
                delta = OutputDelta(ev.id, ev.outputId, ev.delta, ev.sequenceNumber)
                state.output_deltas[ev.id] = delta
                state._deltas_by_output.setdefault(ev.outputId, []).append(delta)
            else:
                _log.warning("duplicate output delta id %s ignored", ev.id)
        case CellOutputsCleared():
            if ev.wait:
                _upsert(state.pending_clears, ev.cellId, ev.clearedBy)
            else:
                _delete_outputs(state, ev.cellId)
                # The cell has no outputs now, so a pending clear could only delete nothing
                # when it is consumed: dropping it here changes no row and bounds the table.
                state.pending_clears.pop(ev.cellId, None)
            if ev.clearedBy:
                _presence(state, ev.clearedBy, ev.cellId)
        case AllOutputsCleared():
            _prune_deltas(state, state.outputs)
            state.outputs.clear()
            state._outputs_by_cell.clear()
            state.pending_clears.clear()
        case _:
            _log.debug("no materializer for %s", ev.NAME)


# -- helpers ------------------------------------------------------------------------------


_K = TypeVar("_K")
_V = TypeVar("_V")


def _upsert(table: dict[_K, _V], key: _K, value: _V) -> None:
    """``onConflict(..., "replace")``: delete then insert, so the row moves to the end."""
    table.pop(key, None)
    table[key] = value


def _presence(state: NotebookState, user_id: str, cell_id: str | None) -> None:
    _upsert(state.presence, user_id, cell_id or None)


def _presence_if(state: NotebookState, actor_id: str | None, cell_id: str) -> None:
    if actor_id:
        _presence(state, actor_id, cell_id)


def _create_cell(
    state: NotebookState, cell_id: str, cell_type: str, key: str, created_by: str
) -> None:
    if cell_id not in state.cells:  # onConflict("id", "ignore")
        state.cells[cell_id] = Cell(cell_id, cell_type, created_by, fractional_index=key)


def _request(
    state: NotebookState, queue_id: str, cell_id: str, count: int, requested_by: str
) -> None:
    if queue_id not in state.queue:  # onConflict("id", "ignore")
        state.queue[queue_id] = QueueEntry(queue_id, cell_id, count, requested_by)
    if cell := state.cells.get(cell_id):
        cell.execution_state, cell.execution_count = "queued", count


def _consume_pending_clear(state: NotebookState, cell_id: str) -> None:
    """clear_output(wait=True): the first new output of the cell drops the old ones."""
    if cell_id in state.pending_clears:
        _delete_outputs(state, cell_id)
        del state.pending_clears[cell_id]


def _delete_outputs(state: NotebookState, cell_id: str) -> None:
    rows = state._outputs_by_cell.pop(cell_id, None)
    if not rows:
        return
    for oid in rows:
        del state.outputs[oid]
    _prune_deltas(state, rows)


def _prune_deltas(state: NotebookState, output_ids: Iterable[str]) -> None:
    """Deltas of deleted outputs go with them. Upstream leaves them orphaned in SQLite; no
    query can reach them (output ids are uuids), so keeping them would only grow memory."""
    by_output = state._deltas_by_output
    if not by_output:
        return
    for oid in output_ids:
        for delta in by_output.pop(oid, ()):
            state.output_deltas.pop(delta.id, None)


def _add_output(state: NotebookState, row: Output) -> None:
    old = state.outputs.get(row.id)
    if old is not None and old.cell_id != row.cell_id:
        cell_rows = state._outputs_by_cell.get(old.cell_id)
        if cell_rows is not None:
            cell_rows.pop(row.id, None)
            if not cell_rows:
                del state._outputs_by_cell[old.cell_id]
    _upsert(state.outputs, row.id, row)
    _upsert(state._outputs_by_cell.setdefault(row.cell_id, {}), row.id, row)


def _content_output(
    oid: str, cell_id: str, kind: OutputType, position: float, content: Media
) -> Output:
    row = Output(id=oid, cell_id=cell_id, output_type=kind, position=position)
    if isinstance(content, ArtifactMedia):
        row.artifact_id = content.artifactId
    else:
        row.data = _js_string(content.data)
    row.metadata = content.metadata
    return row


def _primary(reps: dict[str, Media], preference: tuple[str, ...]) -> tuple[str, str]:
    """(mimeType, data) of the preferred representation; ("text/plain", "") if none."""
    for mime in preference:
        if (media := reps.get(mime)) is not None:
            if isinstance(media, ArtifactMedia):
                return mime, ""
            return mime, _js_string(media.data) if _js_truthy(media.data) else ""
    return "text/plain", ""


def _update_displays(state: NotebookState, display_id: str, reps: dict[str, Media]) -> None:
    """``updateExistingDisplays``: rewrite every display row with that id; create nothing."""
    if not any(m in reps for m in _DISPLAY_PREFERENCE):
        return
    mime, data = _primary(reps, _DISPLAY_PREFERENCE)
    for row in state.outputs.values():
        if row.display_id == display_id and row.output_type == "multimedia_display":
            row.data, row.mime_type, row.representations = data, mime, dict(reps)


def _js_truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def _js_string(value: Any) -> str:
    """JS ``String(value)`` for JSON values, so flattened ``data`` matches the UI's."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return ",".join("" if v is None else _js_string(v) for v in value)
    return "[object Object]"


def _js_base36(n: int) -> str:
    """``Number.prototype.toString(36)`` for integers."""
    if n == 0:
        return "0"
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    sign, n = ("-", -n) if n < 0 else ("", n)
    out: list[str] = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return sign + "".join(reversed(out))
