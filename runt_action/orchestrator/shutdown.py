"""Signals, uvicorn-style: the first asks to exit gracefully, the second forces it.

``should_exit`` (first SIGTERM/SIGINT): the work in flight is cancelled, the running cell is
cancelled on the server, and the cleanup gets the ``Timeouts.shutdown`` grace. ``force_exit``
(second signal): every remaining cleanup step gets no grace at all. Either way the summary is
still written, and the engine process is killed synchronously before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable

from runt_action.console import PREFIX

__all__ = ["Shutdown"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_FORCED_STEP = 0.05  # seconds a cleanup step may still take once exit is forced


class Shutdown:
    """One run's exit state; install() hooks the signals into the running loop."""

    def __init__(self, grace: float | None, parent: Shutdown | None = None) -> None:
        self.grace = grace
        self._signals = 0
        self._parent = parent
        self._deadline: float | None = None
        self._on_signal: Callable[[], None] | None = None

    def child(self) -> Shutdown:
        """One run of a batch: the batch's signals, but a grace clock of its own (a shared
        clock, started by the first run's cleanup, would leave later runs none)."""
        return Shutdown(self.grace, parent=self)

    @property
    def signals(self) -> int:
        return self._parent.signals if self._parent is not None else self._signals

    @property
    def should_exit(self) -> bool:
        return self.signals >= 1

    @property
    def force_exit(self) -> bool:
        return self.signals >= 2

    def install(self, on_signal: Callable[[], None]) -> None:
        """Route SIGTERM/SIGINT here; ``on_signal`` cancels the work in flight (the first
        time its graceful part, the second time whatever cleanup step is under way)."""
        self._on_signal = on_signal
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.handle)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

    def handle(self) -> None:
        self._signals += 1
        if self.signals == 1:
            print(f"{PREFIX}stopping (signal received); send again to force", file=sys.stderr)
        else:
            print(f"{PREFIX}forced exit: skipping the remaining cleanup", file=sys.stderr)
        if self._on_signal is not None:
            self._on_signal()

    def begin_cleanup(self) -> None:
        """Start the grace period: cleanup steps share it from now on."""
        if self._deadline is None:
            grace = self.grace if self.grace is not None else 3600.0
            self._deadline = time.monotonic() + grace

    def left(self, cap: float | None = None) -> float:
        """Seconds the next cleanup step may take (tiny once exit is forced)."""
        if self.force_exit:
            return _FORCED_STEP
        self.begin_cleanup()
        assert self._deadline is not None
        remaining = max(_FORCED_STEP, self._deadline - time.monotonic())
        return min(remaining, cap) if cap is not None else remaining
