"""Identifiers in the shapes runt expects (runt-schema §3.1, §5.4, §9).

Store ids must avoid dashes (LiveStore maps them to ``_`` in SQLite table names, which
collides); other ids only need to be unique and URL-safe.
"""

from __future__ import annotations

import re
import secrets
import string
import time
import uuid
from typing import Final

__all__ = [
    "CELL_ID_PATTERN",
    "new_cell_id",
    "new_notebook_id",
    "new_output_id",
    "new_queue_id",
    "new_session_id",
]

CELL_ID_PATTERN: Final = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
"""Cell ids safe in URLs and the runt tables: 1-64 of ``[A-Za-z0-9_-]``, alphanumeric first."""

_NOTEBOOK_ALPHABET: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase + "_"
_BASE36: Final = string.digits + string.ascii_lowercase


def _rand36(n: int) -> str:
    return "".join(secrets.choice(_BASE36) for _ in range(n))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_notebook_id() -> str:
    """12 chars of ``[0-9A-Za-z_]``, like the backend's nanoid (no dashes: it is a store id)."""
    return "".join(secrets.choice(_NOTEBOOK_ALPHABET) for _ in range(12))


def new_queue_id(cell_id: str) -> str:
    """``exec-<ms>-<rand>`` like the UI, with the cell id appended for readable logs."""
    return f"exec-{_now_ms()}-{_rand36(10)}-{cell_id}"


def new_cell_id() -> str:
    """``cell-<ms>-<rand>`` like the UI, for cells that have no id of their own."""
    return f"cell-{_now_ms()}-{_rand36(10)}"


def new_output_id() -> str:
    """A uuid4: output and delta rows are plain inserts, so ids must never repeat."""
    return str(uuid.uuid4())


def new_session_id(runtime_type: str, runtime_id: str) -> str:
    """``<runtimeType>-<runtimeId>-<Date.now()>-<random base36>`` as agent-core builds it."""
    return f"{runtime_type}-{runtime_id}-{_now_ms()}-{_rand36(11)}"
