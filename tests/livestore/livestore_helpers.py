"""Helpers shared by the livestore tests (imported via the conftest's sys.path entry)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runt_action.livestore import Event, SyncServer
from runt_action.livestore.protocol import encode_query
from runt_action.timeouts import Timeouts

# A copy of the spec's real capture (spec/livestore-captured-frames.jsonl), kept in the repo.
CAPTURED = Path(__file__).parent / "data" / "livestore-captured-frames.jsonl"

FAST = Timeouts(connect=5.0, request=5.0)


def captured_lines() -> list[dict[str, Any]]:
    """The frames captured from the real sync-cf 0.3.1 backend and JS clients."""
    return [json.loads(line) for line in CAPTURED.read_text().splitlines() if line.strip()]


@dataclass
class Log:
    events: list[Event] = field(default_factory=list)


class ListMaterializer:
    """State = every confirmed event, to compare logs across clients."""

    def initial(self) -> Log:
        return Log()

    def apply(self, state: Log, event: Event) -> None:
        state.events.append(event)


def ws_url(server: SyncServer, store_id: str = "s1", payload: Any = None) -> str:
    return f"{server.url}/websocket?{encode_query(store_id, payload)}"
