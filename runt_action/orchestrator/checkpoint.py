"""Save as you go: the .ipynb (and HTML report) rewritten after each cell, at most every 2 s.

And at most 10% of the time: a large notebook takes longer to write, so the next checkpoint
waits at least 9 times as long as the last write took (a 2000-cell notebook would otherwise spend
most of its run rewriting itself).

A job killed mid-run (runner timeout, OOM, a cancelled workflow) still leaves the notebook up
to its last finished cell, as papermill does. Writes are atomic, so a reader never sees half a
file; the final publish overwrites the checkpoint with the complete result.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence

from runt_action.console import PREFIX
from runt_action.results import CellOutput, CellResult, LiveHooks

__all__ = ["Checkpoint", "Tee"]


class Checkpoint:
    """A LiveHooks: after a cell ends, ``write()`` now, or once ``interval`` has passed."""

    def __init__(
        self, write: Callable[[], None], *, interval: float = 2.0, share: float = 0.1
    ) -> None:
        self._write = write
        self._interval = interval
        self._share = share
        # The first write waits ``interval`` too: a run shorter than that has nothing worth
        # saving early, and pays none of the writers' imports and rendering during its cells.
        self._next = time.monotonic() + interval
        self._timer: asyncio.TimerHandle | None = None
        self._warned = False

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None:
        pass

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        pass

    def on_cell_end(self, cell: CellResult) -> None:
        wait = self._next - time.monotonic()
        if wait <= 0:
            self._save()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(wait, self._save)

    def close(self) -> None:
        """The final publish takes over: no checkpoint may land after it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _save(self) -> None:
        self._timer = None
        start = time.monotonic()
        try:
            self._write()
        except Exception as exc:  # a checkpoint must never break the run; say so once
            if not self._warned:
                self._warned = True
                print(
                    f"{PREFIX}warning: could not save the notebook as it runs: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            took = time.monotonic() - start
            self._next = start + max(self._interval, took / self._share)


class Tee:
    """Several LiveHooks as one, in order."""

    def __init__(self, hooks: Sequence[LiveHooks]) -> None:
        self.hooks = list(hooks)

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None:
        for hook in self.hooks:
            hook.on_cell_start(cell, index, total)

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        for hook in self.hooks:
            hook.on_output(cell_id, output)

    def on_cell_end(self, cell: CellResult) -> None:
        for hook in self.hooks:
            hook.on_cell_end(cell)
