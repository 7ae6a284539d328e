"""The event loop every entry point runs on: uvloop when installed, asyncio's otherwise.

Why uvloop: a cell's critical path is loop work, ZeroMQ reads from the kernel and what is
left of the sync round trips. Measured on 200 trivial cells, 10 interleaved pairs
(docs/benchmarks.md, 2026-12-01): per-cell wall time 4.85 -> 4.56 ms (-6%), overhead 0.53 ->
0.46 ms; before the shared-Store fast paths it was 7.9 -> 5.8 ms. End to end on the 7-cell
example it is within noise. It is a locked dependency wherever it has wheels;
``RUNT_EVENT_LOOP=asyncio`` selects the standard loop (to rule uvloop out when debugging).
Either way the results are the same; a run on asyncio's loop says so in its first line
(:func:`note`), since it is the slower one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "note", "run"]

T = TypeVar("T")

ENV = "RUNT_EVENT_LOOP"


def _asked_for_asyncio() -> bool:
    return os.environ.get(ENV, "").strip().lower() == "asyncio"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default."""
    if _asked_for_asyncio():
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def note() -> str | None:
    """Why a run is on asyncio's loop instead of uvloop; None when it is on uvloop."""
    if _asked_for_asyncio():
        return f"on asyncio's event loop ({ENV}=asyncio)"
    if loop_factory() is None:
        return "on asyncio's event loop: uvloop is not installed here (same results, slower)"
    return None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
