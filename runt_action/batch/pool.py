"""A warm pool: the runtime of the next entry boots while the current one runs.

Each entry gets a runtime of its own, launched ahead of time (a native kernel started, Deno
booting Pyodide from its snapshot), so a batch pays one cold start instead of one per
notebook. A runtime is never handed to a second entry (a notebook's globals must not leak
into the next); one launched for an entry that never runs (``-x``, a signal) is killed.

Default Python kernels are forked from a fork server (agents/forkserver.py) that imported
ipykernel once: a fresh process per entry at a sixth of a launch's CPU, which is what a suite
of small notebooks on two cores is bound by (bench/suite.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runt_action.console import PREFIX
from runt_action.orchestrator.agent_host import kill_engine, prestart_engine

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.agents.forkserver import ForkServer
    from runt_action.orchestrator.plan import EngineSpec

__all__ = ["WarmPool"]


class WarmPool:
    """Engines for ``specs`` (one per entry, in run order), launched ``ahead`` entries early."""

    def __init__(self, specs: Sequence[EngineSpec | None], ahead: int) -> None:
        self._specs = list(specs)
        self._ahead = max(0, ahead)
        self._warm: dict[int, Engine | None] = {}
        self._taken: set[int] = set()
        self.launched = 0  # engines launched (the tests and the benchmark read it)
        self.forks = _fork_server(self._specs)

    def take(self, index: int) -> Engine | None:
        """Entry ``index``'s engine (launched now if it was not yet); the next ones start."""
        engine = self._warm.pop(index) if index in self._warm else self._launch(index)
        self._taken.add(index)
        self.warm_up(index + 1)
        return engine

    def warm_up(self, start: int) -> None:
        """Launch the engines of entries ``start .. start + ahead - 1`` not launched yet."""
        for i in range(start, min(start + self._ahead, len(self._specs))):
            if i not in self._warm and i not in self._taken:
                self._warm[i] = self._launch(i)

    def discard(self) -> int:
        """At the end: kill every launched engine no entry took (how many there were), and
        end the fork server."""
        spare = [e for e in self._warm.values() if e is not None]
        for engine in spare:
            kill_engine(engine)
        self._warm.clear()
        if self.forks is not None:
            self.forks.close()
        return len(spare)

    def _launch(self, index: int) -> Engine | None:
        engine = prestart_engine(self._specs[index], self.forks)
        if engine is not None:
            self.launched += 1
        return engine


def _fork_server(specs: Sequence[EngineSpec | None]) -> ForkServer | None:
    """A fork server when two or more entries run this interpreter's own kernel."""
    default = [
        s
        for s in specs
        if s is not None and s.runtime == "python" and s.kernel is None and s.python is None
    ]
    if len(default) < 2:
        return None
    from runt_action.agents.forkserver import ForkServer

    return ForkServer(default[0].environ, note=_note)


def _note(text: str) -> None:
    print(f"{PREFIX}note: {text}", file=sys.stderr, flush=True)
