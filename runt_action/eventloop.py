"""The event loop every entry point runs on: uvloop when installed, asyncio's otherwise.

Why uvloop: a cell's critical path is socket hops (the sync round trips) and ZeroMQ reads
(the kernel), all loop work. Measured on 200 trivial cells (docs/benchmarks.md, 2026-12-01):
per-cell wall time 7.9 -> 5.8 ms, the kernel round trip 6.0 -> 4.3 ms. It is a locked
dependency on Linux; ``RUNT_EVENT_LOOP=asyncio`` selects the standard loop (to rule uvloop
out when debugging), and a platform without a uvloop wheel gets asyncio's loop silently
only because nothing is lost: the two loops give the same results, one is slower.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "loop_name", "run"]

T = TypeVar("T")

_ENV = "RUNT_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default (``RUNT_EVENT_LOOP=asyncio``)."""
    if os.environ.get(_ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
