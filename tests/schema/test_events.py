from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runt_action.schema import events as ev
from runt_action.schema.events import EVENT_TYPES, decode, from_js_iso, to_js_iso

T0 = datetime(2026, 11, 24, 14, 29, 19, 915000, tzinfo=UTC)
INLINE = ev.InlineMedia(data="hello\n")
ARTIFACT = ev.ArtifactMedia(artifactId="art-1", metadata={"originalSizeBytes": 9000})
ERROR = ev.InlineMedia(data={"ename": "ValueError", "evalue": "bad", "traceback": ["tb"]})

SAMPLES: list[ev.RuntEvent] = [
    ev.Debug(id="d1"),
    ev.NotebookInitialized(id="nb", title="Automation Run", ownerId="automation"),
    ev.NotebookTitleChanged(title="t"),
    ev.NotebookMetadataSet(key="k", value="v"),
    ev.CellCreated(id="c0", cellType="code", position=3, createdBy="u", actorId="a"),
    ev.CellCreated2(id="c1", fractionalIndex="m", cellType="markdown", createdBy="u"),
    ev.CellSourceChanged(id="c1", source="print(1)", modifiedBy="u"),
    ev.CellTypeChanged(id="c1", cellType="raw"),
    ev.CellDeleted(id="c1", actorId="a"),
    ev.CellMoved(id="c1", newPosition=2.5),
    ev.CellMoved2(id="c1", fractionalIndex="mh", actorId="a"),
    ev.CellSourceVisibilityToggled(id="c1", sourceVisible=False),
    ev.CellOutputVisibilityToggled(id="c1", outputVisible=True, actorId="a"),
    ev.CellAiContextVisibilityToggled(id="c1", aiContextVisible=False),
    ev.SqlConnectionChanged(cellId="c1", connectionId="warehouse", changedBy="u"),
    ev.SqlResultVariableChanged(cellId="c1", resultVariable="df", changedBy="u"),
    ev.AiSettingsChanged(
        cellId="c1",
        provider="openai",
        model="gpt-4o-mini",
        settings=ev.AiSettings(temperature=0, maxTokens=400, systemPrompt="be brief", seed=7),
    ),
    ev.ToolApprovalRequested(
        toolCallId="call_1",
        cellId="c1",
        toolName="create_cell",
        arguments={"source": "x = 1", "after_id": "c1"},
        requestedAt=datetime(2025, 8, 1, tzinfo=UTC),
    ),
    ev.ToolApprovalResponded(
        toolCallId="call_1",
        status="approved_once",
        approvedBy="ai-tools policy (create)",
        respondedAt=datetime(2025, 8, 1, tzinfo=UTC),
    ),
    ev.RuntimeSessionStarted(
        sessionId="s",
        runtimeId="r",
        runtimeType="python3",
        capabilities=ev.RuntimeCapabilities(
            canExecuteCode=True, canExecuteSql=False, canExecuteAi=True, availableAiModels=["m"]
        ),
    ),
    ev.RuntimeSessionStatusChanged(sessionId="s", status="busy"),
    ev.RuntimeSessionTerminated(sessionId="s", reason="displaced"),
    ev.RuntimeSessionRenewal(sessionId="s", renewedAt=T0, validForMs=30000),
    ev.PresenceSet(userId="automation-client"),
    ev.ActorProfileSet(id="u", type="human", displayName="U", avatar="x.png"),
    ev.ExecutionRequested(queueId="q", cellId="c1", executionCount=1, requestedBy="u"),
    ev.ExecutionAssigned(queueId="q", runtimeSessionId="s"),
    ev.ExecutionStarted(queueId="q", cellId="c1", runtimeSessionId="s", startedAt=T0),
    ev.ExecutionCompleted(
        queueId="q",
        cellId="c1",
        status="error",
        error="boom",
        completedAt=T0,
        executionDurationMs=12.5,
    ),
    ev.ExecutionCancelled(queueId="q", cellId="c1", cancelledBy="u", reason="timeout"),
    ev.AllExecutionsCancelled(),
    ev.MultipleExecutionRequested(
        requestedBy="u",
        cellsInfo=[ev.CellExecutionInfo(id="c1", executionCount=2, queueId="q2")],
    ),
    ev.MultimediaDisplayOutputAdded(
        id="o1",
        cellId="c1",
        position=0,
        representations={"text/plain": INLINE, "image/png": ARTIFACT},
        displayId="disp",
    ),
    ev.MultimediaDisplayOutputUpdated(displayId="disp", representations={"text/html": INLINE}),
    ev.MultimediaResultOutputAdded(
        id="o2", cellId="c1", position=1, representations={"text/plain": INLINE}, executionCount=1
    ),
    ev.TerminalOutputAdded(id="o3", cellId="c1", position=2, content=INLINE, streamName="stderr"),
    ev.TerminalOutputAppended(outputId="o3", content=INLINE),
    ev.TerminalOutputAppended2(id="d", outputId="o3", delta="x", sequenceNumber=0),
    ev.MarkdownOutputAdded(id="o4", cellId="c1", position=3, content=ARTIFACT),
    ev.MarkdownOutputAppended(outputId="o4", content=INLINE),
    ev.MarkdownOutputAppended2(id="d2", outputId="o4", delta="y", sequenceNumber=1),
    ev.ErrorOutputAdded(id="o5", cellId="c1", position=4, content=ERROR),
    ev.CellOutputsCleared(cellId="c1", wait=True, clearedBy="runtime-r"),
    ev.AllOutputsCleared(clearedBy="u"),
]

# Class name (the JS key in PascalCase) -> wire name, straight from the anode schema.
WIRE_NAMES = {
    "Debug": "v1.Debug",
    "NotebookInitialized": "v1.NotebookInitialized",
    "NotebookTitleChanged": "v1.NotebookTitleChanged",
    "NotebookMetadataSet": "v1.NotebookMetadataSet",
    "CellCreated": "v1.CellCreated",
    "CellCreated2": "v2.CellCreated",
    "CellSourceChanged": "v1.CellSourceChanged",
    "CellTypeChanged": "v1.CellTypeChanged",
    "CellDeleted": "v1.CellDeleted",
    "CellMoved": "v1.CellMoved",
    "CellMoved2": "v2.CellMoved",
    "CellSourceVisibilityToggled": "v1.CellSourceVisibilityToggled",
    "CellOutputVisibilityToggled": "v1.CellOutputVisibilityToggled",
    "CellAiContextVisibilityToggled": "v1.CellAiContextVisibilityToggled",
    "SqlConnectionChanged": "v1.SqlConnectionChanged",
    "SqlResultVariableChanged": "v1.SqlResultVariableChanged",
    "AiSettingsChanged": "v1.AiSettingsChanged",
    "ToolApprovalRequested": "v1.ToolApprovalRequested",
    "ToolApprovalResponded": "v1.ToolApprovalResponded",
    "RuntimeSessionStarted": "v1.RuntimeSessionStarted",
    "RuntimeSessionStatusChanged": "v1.RuntimeSessionStatusChanged",
    "RuntimeSessionTerminated": "v1.RuntimeSessionTerminated",
    "RuntimeSessionRenewal": "v1.RuntimeSessionRenewal",
    "PresenceSet": "v1.PresenceSet",
    "ActorProfileSet": "v1.ActorProfileSet",
    "ExecutionRequested": "v1.ExecutionRequested",
    "ExecutionAssigned": "v1.ExecutionAssigned",
    "ExecutionStarted": "v1.ExecutionStarted",
    "ExecutionCompleted": "v1.ExecutionCompleted",
    "ExecutionCancelled": "v1.ExecutionCancelled",
    "AllExecutionsCancelled": "v1.AllExecutionsCancelled",
    "MultipleExecutionRequested": "v1.MultipleExecutionRequested",
    "MultimediaDisplayOutputAdded": "v1.MultimediaDisplayOutputAdded",
    "MultimediaDisplayOutputUpdated": "v1.MultimediaDisplayOutputUpdated",
    "MultimediaResultOutputAdded": "v1.MultimediaResultOutputAdded",
    "TerminalOutputAdded": "v1.TerminalOutputAdded",
    "TerminalOutputAppended": "v1.TerminalOutputAppended",
    "TerminalOutputAppended2": "v2.TerminalOutputAppended",
    "MarkdownOutputAdded": "v1.MarkdownOutputAdded",
    "MarkdownOutputAppended": "v1.MarkdownOutputAppended",
    "MarkdownOutputAppended2": "v2.MarkdownOutputAppended",
    "ErrorOutputAdded": "v1.ErrorOutputAdded",
    "CellOutputsCleared": "v1.CellOutputsCleared",
    "AllOutputsCleared": "v1.AllOutputsCleared",
}


def _nulls(value: Any) -> list[str]:
    """Paths of null values in an encoded object (inline ``data`` may legitimately be null)."""
    if isinstance(value, dict):
        return [f"{k}.{p}" for k, v in value.items() for p in _nulls(v)] + [
            k for k, v in value.items() if v is None
        ]
    if isinstance(value, list):
        return [p for v in value for p in _nulls(v)]
    return []


def test_every_event_type_has_a_sample_and_its_exact_wire_name() -> None:
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES.values())
    assert {cls.__name__: name for name, cls in EVENT_TYPES.items()} == WIRE_NAMES


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_json(event: ev.RuntEvent) -> None:
    name, args = event.wire()
    assert name == type(event).NAME
    over_the_wire = json.loads(json.dumps(args))
    assert over_the_wire == args
    decoded = decode(name, over_the_wire)
    assert decoded == event
    assert decoded is not None and decoded.wire() == (name, args)
    assert _nulls(args) == []


def test_optional_fields_are_omitted_not_null() -> None:
    _, args = ev.ExecutionRequested(
        queueId="q", cellId="c", executionCount=1, requestedBy="u"
    ).wire()
    assert args == {"queueId": "q", "cellId": "c", "executionCount": 1, "requestedBy": "u"}
    _, args = ev.PresenceSet(userId="automation-client").wire()
    assert args == {"userId": "automation-client"}
    _, args = ev.TerminalOutputAdded(
        id="o", cellId="c", position=0, content=ev.InlineMedia(data="x"), streamName="stdout"
    ).wire()
    assert args["content"] == {"type": "inline", "data": "x"}


def test_inline_null_data_is_kept() -> None:
    # `data` is required (Schema.Any): a null value is data, not an absent key.
    _, args = ev.MultimediaDisplayOutputUpdated(
        displayId="d", representations={"text/plain": ev.InlineMedia(data=None)}
    ).wire()
    assert args["representations"]["text/plain"] == {"type": "inline", "data": None}


def test_void_args_are_absent() -> None:
    assert ev.AllExecutionsCancelled().wire() == ("v1.AllExecutionsCancelled", None)
    assert isinstance(decode("v1.AllExecutionsCancelled", None), ev.AllExecutionsCancelled)
    assert isinstance(decode("v1.AllExecutionsCancelled", {}), ev.AllExecutionsCancelled)


def test_integral_numbers_encode_like_json_stringify() -> None:
    _, args = ev.ExecutionCompleted(
        queueId="q",
        cellId="c",
        status="success",
        completedAt=T0,
        executionDurationMs=250.0,
    ).wire()
    assert args["executionDurationMs"] == 250
    assert json.dumps(args["executionDurationMs"]) == "250"
    _, args = ev.CellMoved(id="c", newPosition=2.5).wire()
    assert args["newPosition"] == 2.5


def test_unknown_event_names_decode_to_none() -> None:
    assert decode("v1.McpToolsChanged", {"tools": []}) is None
    assert decode("v9.FromTheFuture", None) is None
    assert decode("uiStateSet", {"selectedCellId": "x"}) is None


def test_unknown_keys_are_ignored_like_effect_struct() -> None:
    decoded = decode("v1.NotebookTitleChanged", {"title": "t", "addedLater": 1})
    assert decoded == ev.NotebookTitleChanged(title="t")


def test_malformed_args_of_a_known_event_raise_value_error() -> None:
    with pytest.raises(ValueError):
        decode("v1.ExecutionCompleted", {"queueId": "q"})
    with pytest.raises(ValueError):
        decode("v1.RuntimeSessionStatusChanged", {"sessionId": "s", "status": "sleeping"})
    with pytest.raises(ValueError):
        decode("v2.CellCreated", None)


def test_media_union_decodes_by_type() -> None:
    decoded = decode(
        "v1.MarkdownOutputAdded",
        {
            "id": "o",
            "cellId": "c",
            "position": 0,
            "content": {"type": "artifact", "artifactId": "a", "metadata": {"k": 1}},
        },
    )
    assert isinstance(decoded, ev.MarkdownOutputAdded)
    assert decoded.content == ev.ArtifactMedia(artifactId="a", metadata={"k": 1})


def test_dates_encode_as_to_iso_string() -> None:
    assert to_js_iso(T0) == "2026-11-24T14:29:19.915Z"
    # sub-millisecond digits are truncated, as a JS Date cannot hold them
    assert to_js_iso(T0 + timedelta(microseconds=999)) == "2026-11-24T14:29:19.915Z"
    plus2 = timezone(timedelta(hours=2))
    assert to_js_iso(datetime(2026, 1, 1, 2, 0, tzinfo=plus2)) == "2026-01-01T00:00:00.000Z"
    assert to_js_iso(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"  # naive = UTC
    assert from_js_iso("2026-11-24T14:29:19.915Z") == T0
    started = decode(
        "v1.ExecutionStarted",
        {
            "queueId": "q",
            "cellId": "c",
            "runtimeSessionId": "s",
            "startedAt": "2026-11-24T16:29:19.915+02:00",
        },
    )
    assert isinstance(started, ev.ExecutionStarted)
    assert started.startedAt == T0
    assert started.startedAt.tzinfo is not None


def _deno() -> str:
    """The deno binary the project installs (pip package `deno`, a core dependency)."""
    local = Path(sys.executable).with_name("deno")
    found = str(local) if local.exists() else shutil.which("deno")
    assert found, "deno is a dependency of the project (pyproject.toml) and must be installed"
    return found


@settings(max_examples=1, deadline=None, derandomize=True)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
        ),
        min_size=200,
        max_size=200,
    )
)
def test_date_encoding_matches_javascript(moments: list[datetime]) -> None:
    millis = [(m - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) for m in moments]
    script = (
        "const ms = JSON.parse(await new Response(Deno.stdin.readable).text());"
        "console.log(JSON.stringify(ms.map((m) => new Date(m).toISOString())));"
    )
    out = subprocess.run(
        [_deno(), "eval", "--no-config", script],
        input=json.dumps(millis),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [to_js_iso(m) for m in moments]
