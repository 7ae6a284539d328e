"""One executor per cell kind, behind one interface (:class:`CellExecutor`).

The agent core owns the lifecycle of an execution (claim, start, clear, complete, cancel,
restart); an executor only turns one cell into outputs on the sink. Adding a cell kind is a
new module here and an entry in the agent's executor list, never a branch in the core.
"""

from __future__ import annotations

from runt_action.agents.executors.base import (
    CellExecutor,
    Execution,
    Executors,
    capabilities_of,
)
from runt_action.agents.executors.code import CodeExecutor
from runt_action.agents.executors.sql import SqlExecutor

__all__ = [
    "CellExecutor",
    "CodeExecutor",
    "Execution",
    "Executors",
    "SqlExecutor",
    "capabilities_of",
]
