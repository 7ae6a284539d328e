"""The runt events this product emits or observes, as pydantic models (runt-schema §1).

Field names are the camelCase wire names so a model *is* its wire form; ``wire()`` encodes
like Effect Schema would: ``Date`` as ``toISOString()``, optional keys omitted (never
``null``), ``Schema.Void`` args absent (``None``). :func:`decode` returns ``None`` for event
names it does not know, because the anode schema keeps adding events.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "CELL_DEFINITION_EVENTS",
    "EVENT_TYPES",
    "SQL_CONNECTIONS_KEY",
    "SQL_DATAFRAMES_KEY",
    "ActorProfileSet",
    "ActorType",
    "AiSettings",
    "AiSettingsChanged",
    "AllExecutionsCancelled",
    "AllOutputsCleared",
    "ArtifactMedia",
    "CellAiContextVisibilityToggled",
    "CellCreated",
    "CellCreated2",
    "CellDeleted",
    "CellExecutionInfo",
    "CellMoved",
    "CellMoved2",
    "CellOutputVisibilityToggled",
    "CellOutputsCleared",
    "CellSourceChanged",
    "CellSourceVisibilityToggled",
    "CellType",
    "CellTypeChanged",
    "Debug",
    "ErrorOutputAdded",
    "ExecutionAssigned",
    "ExecutionCancelled",
    "ExecutionCompleted",
    "ExecutionRequested",
    "ExecutionStarted",
    "ExecutionStatus",
    "InlineMedia",
    "JsDate",
    "MarkdownOutputAdded",
    "MarkdownOutputAppended",
    "MarkdownOutputAppended2",
    "Media",
    "MultimediaDisplayOutputAdded",
    "MultimediaDisplayOutputUpdated",
    "MultimediaResultOutputAdded",
    "MultipleExecutionRequested",
    "NotebookInitialized",
    "NotebookMetadataSet",
    "NotebookTitleChanged",
    "Number",
    "PresenceSet",
    "RuntEvent",
    "RuntimeCapabilities",
    "RuntimeSessionRenewal",
    "RuntimeSessionStarted",
    "RuntimeSessionStatusChanged",
    "RuntimeSessionTerminated",
    "SessionStatusChange",
    "SqlConnectionChanged",
    "SqlResultVariableChanged",
    "StreamName",
    "TerminalOutputAdded",
    "TerminalOutputAppended",
    "TerminalOutputAppended2",
    "TerminationReason",
    "ToolApprovalRequested",
    "ToolApprovalResponded",
    "ToolApprovalStatus",
    "WireModel",
    "decode",
    "from_js_iso",
    "to_js_iso",
]

CellType = Literal["code", "markdown", "sql", "ai", "raw"]
ToolApprovalStatus = Literal["approved_once", "approved_always", "denied"]
SessionStatusChange = Literal["ready", "busy", "restarting"]
TerminationReason = Literal["shutdown", "restart", "error", "timeout", "displaced"]
ExecutionStatus = Literal["success", "error", "cancelled"]
StreamName = Literal["stdout", "stderr"]
ActorType = Literal["human", "runtime_agent"]


# -- encodings ----------------------------------------------------------------------------


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so state comparisons never mix naive and aware."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_js_iso(value: datetime) -> str:
    """``Date.prototype.toISOString()``: UTC, millisecond precision (truncated), ``Z``."""
    v = _as_utc(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        f".{v.microsecond // 1000:03d}Z"
    )


def from_js_iso(text: str) -> datetime:
    """Parse what ``Schema.Date`` accepts in practice (ISO-8601, ``Z`` or an offset)."""
    return _as_utc(datetime.fromisoformat(text))


def _js_number(value: int | float) -> int | float:
    # JSON.stringify(3.0) is "3": integral floats go out as integers.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


JsDate = Annotated[datetime, AfterValidator(_as_utc), PlainSerializer(to_js_iso, return_type=str)]
"""Effect ``Schema.Date``: a ``datetime`` in Python, an ISO string on the wire."""

Number = Annotated[int | float, PlainSerializer(_js_number)]
"""JS ``number``: ints stay ints (smart union), integral floats encode as integers."""


class WireModel(BaseModel):
    """Frozen, ignores unknown keys (like Effect Struct decode), omits absent optionals."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, info in type(self).model_fields.items():
                if not info.is_required() and getattr(self, name) is None:
                    data.pop(info.alias or name, None)
        return data


# -- media --------------------------------------------------------------------------------


class InlineMedia(WireModel):
    type: Literal["inline"] = "inline"
    data: Any
    metadata: dict[str, Any] | None = None


class ArtifactMedia(WireModel):
    type: Literal["artifact"] = "artifact"
    artifactId: str
    metadata: dict[str, Any] | None = None


Media = Annotated[InlineMedia | ArtifactMedia, Field(discriminator="type")]
"""``MediaRepresentationSchema``: inline data, or a reference to an uploaded artifact."""


# -- events -------------------------------------------------------------------------------


class RuntEvent(WireModel):
    """Base of every event model; ``NAME`` is the wire name (``v2.CellCreated``)."""

    NAME: ClassVar[str]

    def wire(self) -> tuple[str, Any]:
        """``(name, encoded args)``, ready for ``store.commit(*event.wire())``."""
        return self.NAME, self.model_dump(mode="json", by_alias=True)


class Debug(RuntEvent):
    NAME: ClassVar[str] = "v1.Debug"
    id: str


class NotebookInitialized(RuntEvent):
    """Deprecated upstream, still emitted by runt-eval; sets title and ownerId."""

    NAME: ClassVar[str] = "v1.NotebookInitialized"
    id: str
    title: str
    ownerId: str


class NotebookTitleChanged(RuntEvent):
    NAME: ClassVar[str] = "v1.NotebookTitleChanged"
    title: str


class NotebookMetadataSet(RuntEvent):
    NAME: ClassVar[str] = "v1.NotebookMetadataSet"
    key: str
    value: str


class CellCreated(RuntEvent):
    """Legacy v1: the position becomes the key ``"a" + base36(floor(position))``."""

    NAME: ClassVar[str] = "v1.CellCreated"
    id: str
    cellType: CellType
    position: Number
    createdBy: str
    actorId: str | None = None


class CellCreated2(RuntEvent):
    NAME: ClassVar[str] = "v2.CellCreated"
    id: str
    fractionalIndex: str
    cellType: CellType
    createdBy: str


class CellSourceChanged(RuntEvent):
    NAME: ClassVar[str] = "v1.CellSourceChanged"
    id: str
    source: str
    modifiedBy: str


class CellTypeChanged(RuntEvent):
    NAME: ClassVar[str] = "v1.CellTypeChanged"
    id: str
    cellType: CellType
    actorId: str | None = None


class CellDeleted(RuntEvent):
    NAME: ClassVar[str] = "v1.CellDeleted"
    id: str
    actorId: str | None = None


class CellMoved(RuntEvent):
    NAME: ClassVar[str] = "v1.CellMoved"
    id: str
    newPosition: Number
    actorId: str | None = None


class CellMoved2(RuntEvent):
    NAME: ClassVar[str] = "v2.CellMoved"
    id: str
    fractionalIndex: str
    actorId: str | None = None


class CellSourceVisibilityToggled(RuntEvent):
    NAME: ClassVar[str] = "v1.CellSourceVisibilityToggled"
    id: str
    sourceVisible: bool
    actorId: str | None = None


class CellOutputVisibilityToggled(RuntEvent):
    NAME: ClassVar[str] = "v1.CellOutputVisibilityToggled"
    id: str
    outputVisible: bool
    actorId: str | None = None


class CellAiContextVisibilityToggled(RuntEvent):
    NAME: ClassVar[str] = "v1.CellAiContextVisibilityToggled"
    id: str
    aiContextVisible: bool
    actorId: str | None = None


SQL_CONNECTIONS_KEY: Final = "runt.sqlConnections"
"""``NotebookMetadataSet`` key of the notebook's SQL connections: JSON ``{name: {"url": ...}
| {"url_env": NAME}}``; an agent reads a ``url_env`` URL from its own environment."""

SQL_DATAFRAMES_KEY: Final = "runt.sqlDataframes"
"""``NotebookMetadataSet`` key of what SQL cells' results become, for the cells that say
(upstream's schema has no such cell field): JSON ``{cellId: "pandas" | "polars" | "rows"}``."""


class SqlConnectionChanged(RuntEvent):
    """A SQL cell's connection (upstream's ``cells.sqlConnectionId``); absent = the default."""

    NAME: ClassVar[str] = "v1.SqlConnectionChanged"
    cellId: str
    connectionId: str | None = None
    changedBy: str


class SqlResultVariableChanged(RuntEvent):
    """The kernel variable a SQL cell's result lands in (``cells.sqlResultVariable``)."""

    NAME: ClassVar[str] = "v1.SqlResultVariableChanged"
    cellId: str
    resultVariable: str | None = None
    changedBy: str


class RuntimeCapabilities(WireModel):
    canExecuteCode: bool
    canExecuteSql: bool
    canExecuteAi: bool
    availableAiModels: Any = None


class RuntimeSessionStarted(RuntEvent):
    NAME: ClassVar[str] = "v1.RuntimeSessionStarted"
    sessionId: str
    runtimeId: str
    runtimeType: str
    capabilities: RuntimeCapabilities


class RuntimeSessionStatusChanged(RuntEvent):
    NAME: ClassVar[str] = "v1.RuntimeSessionStatusChanged"
    sessionId: str
    status: SessionStatusChange


class RuntimeSessionTerminated(RuntEvent):
    NAME: ClassVar[str] = "v1.RuntimeSessionTerminated"
    sessionId: str
    reason: TerminationReason


class RuntimeSessionRenewal(RuntEvent):
    """anode only: the session is alive until ``renewedAt + validForMs``."""

    NAME: ClassVar[str] = "v1.RuntimeSessionRenewal"
    sessionId: str
    renewedAt: JsDate
    validForMs: Number


class PresenceSet(RuntEvent):
    NAME: ClassVar[str] = "v1.PresenceSet"
    userId: str
    cellId: str | None = None


class ActorProfileSet(RuntEvent):
    NAME: ClassVar[str] = "v1.ActorProfileSet"
    id: str
    type: ActorType
    displayName: str
    avatar: str | None = None


class ExecutionRequested(RuntEvent):
    NAME: ClassVar[str] = "v1.ExecutionRequested"
    queueId: str
    cellId: str
    executionCount: Number
    requestedBy: str
    actorId: str | None = None


class ExecutionAssigned(RuntEvent):
    NAME: ClassVar[str] = "v1.ExecutionAssigned"
    queueId: str
    runtimeSessionId: str


class ExecutionStarted(RuntEvent):
    NAME: ClassVar[str] = "v1.ExecutionStarted"
    queueId: str
    cellId: str
    runtimeSessionId: str
    startedAt: JsDate


class ExecutionCompleted(RuntEvent):
    """Any status but "success" makes the queue row ``failed``; ``error`` is not stored."""

    NAME: ClassVar[str] = "v1.ExecutionCompleted"
    queueId: str
    cellId: str
    status: ExecutionStatus
    error: str | None = None
    completedAt: JsDate
    executionDurationMs: Number


class ExecutionCancelled(RuntEvent):
    NAME: ClassVar[str] = "v1.ExecutionCancelled"
    queueId: str
    cellId: str
    cancelledBy: str
    actorId: str | None = None
    reason: str


class AllExecutionsCancelled(RuntEvent):
    """``Schema.Void`` args: encoded as absent, so any args decode to this event."""

    NAME: ClassVar[str] = "v1.AllExecutionsCancelled"

    def wire(self) -> tuple[str, Any]:
        return self.NAME, None


class CellExecutionInfo(WireModel):
    id: str
    executionCount: Number
    queueId: str


class MultipleExecutionRequested(RuntEvent):
    NAME: ClassVar[str] = "v1.MultipleExecutionRequested"
    requestedBy: str
    cellsInfo: list[CellExecutionInfo]


class MultimediaDisplayOutputAdded(RuntEvent):
    NAME: ClassVar[str] = "v1.MultimediaDisplayOutputAdded"
    id: str
    cellId: str
    position: Number
    representations: dict[str, Media]
    displayId: str | None = None


class MultimediaDisplayOutputUpdated(RuntEvent):
    NAME: ClassVar[str] = "v1.MultimediaDisplayOutputUpdated"
    displayId: str
    representations: dict[str, Media]


class MultimediaResultOutputAdded(RuntEvent):
    NAME: ClassVar[str] = "v1.MultimediaResultOutputAdded"
    id: str
    cellId: str
    position: Number
    representations: dict[str, Media]
    executionCount: Number


class TerminalOutputAdded(RuntEvent):
    NAME: ClassVar[str] = "v1.TerminalOutputAdded"
    id: str
    cellId: str
    position: Number
    content: Media
    streamName: StreamName


class TerminalOutputAppended(RuntEvent):
    """Deprecated v1 append: concatenates onto the output's ``data``."""

    NAME: ClassVar[str] = "v1.TerminalOutputAppended"
    outputId: str
    content: Media


class TerminalOutputAppended2(RuntEvent):
    NAME: ClassVar[str] = "v2.TerminalOutputAppended"
    id: str
    outputId: str
    delta: str
    sequenceNumber: Number


class MarkdownOutputAdded(RuntEvent):
    NAME: ClassVar[str] = "v1.MarkdownOutputAdded"
    id: str
    cellId: str
    position: Number
    content: Media


class MarkdownOutputAppended(RuntEvent):
    """Deprecated v1 append: concatenates onto the output's ``data``."""

    NAME: ClassVar[str] = "v1.MarkdownOutputAppended"
    outputId: str
    content: Media


class MarkdownOutputAppended2(RuntEvent):
    NAME: ClassVar[str] = "v2.MarkdownOutputAppended"
    id: str
    outputId: str
    delta: str
    sequenceNumber: Number


class AiSettings(WireModel):
    """``AiSettingsChanged.settings``; ``seed`` is ours (upstream's decoder ignores it)."""

    temperature: Number | None = None
    maxTokens: Number | None = None
    systemPrompt: str | None = None
    seed: Number | None = None


class AiSettingsChanged(RuntEvent):
    NAME: ClassVar[str] = "v1.AiSettingsChanged"
    cellId: str
    provider: str
    model: str
    settings: AiSettings


class ToolApprovalRequested(RuntEvent):
    NAME: ClassVar[str] = "v1.ToolApprovalRequested"
    toolCallId: str
    cellId: str
    toolName: str
    arguments: dict[str, Any]
    requestedAt: JsDate


class ToolApprovalResponded(RuntEvent):
    NAME: ClassVar[str] = "v1.ToolApprovalResponded"
    toolCallId: str
    status: ToolApprovalStatus
    approvedBy: str
    respondedAt: JsDate


class ErrorOutputAdded(RuntEvent):
    """``content.data`` is ``{ename, evalue, traceback: [str]}``."""

    NAME: ClassVar[str] = "v1.ErrorOutputAdded"
    id: str
    cellId: str
    position: Number
    content: Media


class CellOutputsCleared(RuntEvent):
    """``wait=True`` defers the clear to the cell's next added output (clear_output(wait))."""

    NAME: ClassVar[str] = "v1.CellOutputsCleared"
    cellId: str
    wait: bool
    clearedBy: str


class AllOutputsCleared(RuntEvent):
    NAME: ClassVar[str] = "v1.AllOutputsCleared"
    clearedBy: str


# Events that change what a cell would run (its existence, type or source), keyed by ``id``.
CELL_DEFINITION_EVENTS: Final[frozenset[str]] = frozenset(
    cls.NAME for cls in (CellCreated, CellCreated2, CellSourceChanged, CellTypeChanged, CellDeleted)
)

EVENT_TYPES: Final[dict[str, type[RuntEvent]]] = {
    cls.NAME: cls
    for cls in (
        Debug,
        NotebookInitialized,
        NotebookTitleChanged,
        NotebookMetadataSet,
        CellCreated,
        CellCreated2,
        CellSourceChanged,
        CellTypeChanged,
        CellDeleted,
        CellMoved,
        CellMoved2,
        CellSourceVisibilityToggled,
        CellOutputVisibilityToggled,
        CellAiContextVisibilityToggled,
        SqlConnectionChanged,
        SqlResultVariableChanged,
        RuntimeSessionStarted,
        RuntimeSessionStatusChanged,
        RuntimeSessionTerminated,
        RuntimeSessionRenewal,
        PresenceSet,
        ActorProfileSet,
        ExecutionRequested,
        ExecutionAssigned,
        ExecutionStarted,
        ExecutionCompleted,
        ExecutionCancelled,
        AllExecutionsCancelled,
        MultipleExecutionRequested,
        MultimediaDisplayOutputAdded,
        MultimediaDisplayOutputUpdated,
        MultimediaResultOutputAdded,
        TerminalOutputAdded,
        TerminalOutputAppended,
        TerminalOutputAppended2,
        MarkdownOutputAdded,
        MarkdownOutputAppended,
        MarkdownOutputAppended2,
        ErrorOutputAdded,
        CellOutputsCleared,
        AllOutputsCleared,
        AiSettingsChanged,
        ToolApprovalRequested,
        ToolApprovalResponded,
    )
}
"""Wire name -> model, for every event this package understands."""


def decode(name: str, args: Any) -> RuntEvent | None:
    """The typed event, or ``None`` for a name we do not know (never an error).

    Malformed args of a *known* event raise ``pydantic.ValidationError`` (a ValueError).
    """
    cls = EVENT_TYPES.get(name)
    if cls is None:
        return None
    if cls is AllExecutionsCancelled:
        return AllExecutionsCancelled()
    return cls.model_validate(args)
