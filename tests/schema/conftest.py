"""Feed events to the materializer the way the store does: encoded, through JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from runt_action.schema import NotebookMaterializer, NotebookState, RuntEvent


@dataclass(frozen=True, slots=True)
class WireEvent:
    name: str
    args: Any


class Notebook:
    """A materialized notebook plus an ``emit`` that round-trips events through JSON."""

    def __init__(self) -> None:
        self.materializer = NotebookMaterializer()
        self.state: NotebookState = self.materializer.initial()

    def emit(self, *events: RuntEvent) -> NotebookState:
        for event in events:
            name, args = event.wire()
            self.raw(name, json.loads(json.dumps(args)))
        return self.state

    def raw(self, name: str, args: Any) -> NotebookState:
        self.materializer.apply(self.state, WireEvent(name, args))
        return self.state


@pytest.fixture
def nb() -> Notebook:
    return Notebook()
