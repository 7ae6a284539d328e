"""Our runt event models and materializer against the real LiveStore JS schema and materializers.

Python commits with ``runt_action.schema`` models (so the JS side decodes our args with Effect
Schema: a wrong field or type would break it), the JS client commits its own cell, and both
sides' materialized tables must agree row by row. Backend: the real sync-cf under wrangler.
"""

from __future__ import annotations

from typing import Any

import pytest

from runt_action.livestore.store import connect_store
from runt_action.schema.events import (
    CellCreated2,
    CellSourceChanged,
    ExecutionRequested,
    InlineMedia,
    PresenceSet,
    RuntEvent,
    TerminalOutputAdded,
)
from runt_action.schema.fractional import key_between
from runt_action.schema.state import NotebookMaterializer, NotebookState
from runt_action.timeouts import Timeouts

pytestmark = pytest.mark.interop

TOKEN = "test-token"
WAIT = 30.0
ACTOR = "automation-client"


def python_events() -> list[RuntEvent]:
    first = key_between(None, None)
    second = key_between(first, None)
    events: list[RuntEvent] = [PresenceSet(userId=ACTOR)]
    for n, (cell_id, key) in enumerate([("py-a", first), ("py-b", second)], start=1):
        events += [
            CellCreated2(id=cell_id, fractionalIndex=key, cellType="code", createdBy=ACTOR),
            CellSourceChanged(id=cell_id, source=f"x = {n}\nprint(x)", modifiedBy=ACTOR),
            ExecutionRequested(
                queueId=f"{cell_id}-q", cellId=cell_id, executionCount=n, requestedBy=ACTOR
            ),
            TerminalOutputAdded(
                id=f"{cell_id}-out",
                cellId=cell_id,
                position=0,
                content=InlineMedia(data=f"{n}\n", metadata={"seq": n}),
                streamName="stderr" if n == 2 else "stdout",
            ),
        ]
    return events


def python_rows(state: NotebookState) -> dict[str, Any]:
    """NotebookState in the JS client's table shape, for the columns both sides have."""
    return {
        "cells": sorted(
            (
                {
                    "id": c.id,
                    "cellType": c.cell_type,
                    "source": c.source,
                    "fractionalIndex": c.fractional_index,
                    "executionCount": c.execution_count,
                    "executionState": c.execution_state,
                    "createdBy": c.created_by,
                }
                for c in state.cells.values()
            ),
            key=lambda row: str(row["id"]),
        ),
        "executionQueue": sorted(
            (
                {
                    "id": q.id,
                    "cellId": q.cell_id,
                    "executionCount": q.execution_count,
                    "requestedBy": q.requested_by,
                    "status": q.status,
                }
                for q in state.queue.values()
            ),
            key=lambda row: str(row["id"]),
        ),
        "outputs": sorted(
            (
                {
                    "id": o.id,
                    "cellId": o.cell_id,
                    "outputType": o.output_type,
                    "position": o.position,
                    "streamName": o.stream_name,
                    "data": o.data,
                    "mimeType": o.mime_type,
                    "metadata": o.metadata,
                }
                for o in state.outputs.values()
            ),
            key=lambda row: str(row["id"]),
        ),
        "presence": dict(state.presence),
    }


def js_rows(tables: dict[str, Any], py: dict[str, Any]) -> dict[str, Any]:
    """The JS tables restricted to the columns python_rows() has."""

    def pick(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = like[0].keys()
        return sorted(({k: row[k] for k in keys} for row in rows), key=lambda r: str(r["id"]))

    return {
        "cells": pick(tables["cells"], py["cells"]),
        "executionQueue": pick(tables["executionQueue"], py["executionQueue"]),
        "outputs": pick(tables["outputs"], py["outputs"]),
        "presence": {row["userId"]: row["cellId"] for row in tables["presence"]},
    }


async def test_python_and_js_materialize_the_same_tables(
    wrangler: Any, store_id: str, js_client: Any, cell_events: Any
) -> None:
    store = await connect_store(
        wrangler.url,
        store_id,
        {"authToken": TOKEN},
        NotebookMaterializer(),
        client_id="py-client",
        session_id="py-session",
        timeouts=Timeouts(connect=10, request=10),
    )
    async with store:
        js = await js_client(
            wrangler.url,
            store_id,
            commit=cell_events(1, actor="js", tag="js"),
            wait_cells=3,
            wait_outputs=3,
        )
        for event in python_events():
            store.commit(*event.wire())
        await store.flush(WAIT)
        await store.wait_for(lambda s: len(s.cells) == 3 and len(s.outputs) == 3, WAIT)
        tables = await js.next_message("tables")
        py = python_rows(store.state)
        assert await js.finish() == 0

    assert js_rows(tables, py) == py
    # Spot-check the content so an empty-vs-empty agreement cannot pass.
    assert [c["id"] for c in py["cells"]] == ["js-cell-0", "py-a", "py-b"]
    assert {o["id"]: (o["streamName"], o["data"], o["metadata"]) for o in py["outputs"]} == {
        "js-cell-0-out": ("stdout", "0\n", None),
        "py-a-out": ("stdout", "1\n", {"seq": 1}),
        "py-b-out": ("stderr", "2\n", {"seq": 2}),
    }
    assert py["presence"][ACTOR] == "py-b"
