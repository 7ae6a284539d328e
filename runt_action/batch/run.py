"""Run a list of entries K at a time on one embedded server, each on a runtime of its own.

Every entry is an ordinary run (its own plan, notebook id, .ipynb): a :class:`RunExecution`
on a shared server, its engine taken from the :class:`~.pool.WarmPool`. The result list has
one RunResult per entry, in entry order; an entry that never started (``-x`` after a
failure, a signal) has a CANCELLED result saying why, never a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runt_action.batch.pool import WarmPool
from runt_action.console import PREFIX
from runt_action.orchestrator.agent_host import kill_engine
from runt_action.orchestrator.execution import RunExecution
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.results import CellResult, CellStatus, LiveHooks, RunResult, RunStatus

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.orchestrator.plan import RunPlan
    from runt_action.orchestrator.session import EmbeddedServer

__all__ = ["Batch", "Entry", "not_run", "write_documents"]

EXIT = {RunStatus.SUCCESS: 0, RunStatus.FAILED: 1, RunStatus.ERROR: 3, RunStatus.CANCELLED: 3}


@dataclass(frozen=True, slots=True)
class Entry:
    """One run of a batch: a notebook (one parameter set of it, in a sweep) and its name."""

    plan: RunPlan
    name: str  # what the log, the summary and the JUnit file call it ("nb/a.yml [2-n-3]")
    path: str  # the notebook, relative to where the suite was found (JUnit's classname)


class Batch:
    """``await Batch(entries, ...).run()`` -> one RunResult per entry.

    ``live``: the live hooks of entry ``i`` (a full live log with one job, prefixed lines with
    several, see report/prefixed.py). ``exitfirst``: after a failed entry, start no other."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        jobs: int,
        live: Callable[[int, Entry], LiveHooks],
        exitfirst: bool = False,
        server: EmbeddedServer | None = None,
        shutdown: Shutdown | None = None,
        announce: Callable[[int, Entry, RunResult], None] | None = None,
    ) -> None:
        self.entries = list(entries)
        self.jobs = max(1, jobs)
        self.live = live
        self.exitfirst = exitfirst
        self.server = server
        base = self.entries[0].plan if self.entries else None
        grace = base.timeouts.shutdown if base is not None else 5.0
        self.shutdown = shutdown or Shutdown(grace)
        self.announce = announce
        # One more than the jobs boots ahead: a notebook shorter than a kernel's boot would
        # otherwise wait for the next one's (measured with bench/suite.py).
        self.pool = WarmPool([e.plan.engine for e in self.entries], ahead=self.jobs + 1)
        self.retiring: list[asyncio.Task[None]] = []
        self.pool.warm_up(0)  # the first runtimes boot while the server starts
        self.running: list[RunExecution] = []
        self.results: list[RunResult | None] = [None] * len(self.entries)
        self.started: set[int] = set()  # entries that ran (the exit code counts only these)
        self.stopped: str | None = None  # why no further entry starts

    async def run(self) -> list[RunResult]:
        self.shutdown.install(self._cancel_all)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(self.entries)):
            queue.put_nowait(i)
        try:
            await asyncio.gather(*(self._worker(queue) for _ in range(self.jobs)))
        finally:
            await self._retired()
            self.shutdown.uninstall()
            spare = self.pool.discard()
            if spare and self.stopped is not None:
                print(
                    f"{PREFIX}shut down {spare} runtime(s) started for entries that did not run",
                    file=sys.stderr,
                    flush=True,
                )
        return [
            r if r is not None else not_run(e.plan, self.stopped or "the batch stopped")
            for r, e in zip(self.results, self.entries, strict=True)
        ]

    def _cancel_all(self) -> None:
        self.stopped = "cancelled by a signal before it started"
        for execution in self.running:
            execution.cancel()

    async def _worker(self, queue: asyncio.Queue[int]) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            if self.shutdown.should_exit or self.stopped is not None:
                continue
            self.started.add(index)
            result = await self._one(index)
            self.results[index] = result
            if self.announce is not None:
                self.announce(index, self.entries[index], result)
            if self.exitfirst and result.status != RunStatus.SUCCESS and self.stopped is None:
                self.stopped = (
                    f"not run: -x/--exitfirst stopped the batch after {self.entries[index].name}"
                )

    async def _one(self, index: int) -> RunResult:
        entry = self.entries[index]
        live = self.live(index, entry)
        engine = self.pool.take(index)
        shutdown = self.shutdown.child()
        execution = RunExecution(entry.plan, engine, shutdown, shared_server=self.server)
        self.running.append(execution)
        try:
            result = await execution.execute(live)
            close = getattr(live, "close", None)
            if callable(close):
                close()
        except BaseException:
            kill_engine(engine)
            raise
        finally:
            self.running.remove(execution)
        # The runtime's exit overlaps the next entry (never reused: that one has its own).
        self.retiring.append(asyncio.ensure_future(self._retire(execution, engine)))
        return result

    @staticmethod
    async def _retire(execution: RunExecution, engine: Engine | None) -> None:
        try:
            await execution.engine_down()
        finally:
            kill_engine(engine)

    async def _retired(self) -> None:
        """Every finished entry's runtime is gone (bounded by the shutdown grace; killed)."""
        if self.retiring:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(
                    asyncio.gather(*self.retiring, return_exceptions=True), self.shutdown.left()
                )
            for task in self.retiring:
                task.cancel()


async def stop_server(server: EmbeddedServer | None, shutdown: Shutdown) -> None:
    if server is not None:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(server.stop(), shutdown.left())


def write_documents(plan: RunPlan, result: RunResult) -> int:
    """One entry's .ipynb and HTML report; 3 (said on stderr) when they cannot be written, so
    one entry's unwritable report does not stop the others'."""
    from runt_action import report
    from runt_action.errors import OutputWriteError

    try:
        report.write_documents(
            result, ipynb=plan.ipynb_path, html=plan.html_path, secrets=plan.secrets
        )
    except (OSError, OutputWriteError) as exc:
        print(f"{PREFIX}could not write a report: {exc}", file=sys.stderr)
        return 3
    return 0


def not_run(plan: RunPlan, reason: str) -> RunResult:
    """An entry the batch never started: every cell skipped with ``reason``, run CANCELLED."""
    cells = [
        CellResult(c.id, c.cell_type, c.source, CellStatus.SKIPPED, reason=reason)
        for c in plan.cells
    ]
    return plan.result(cells, RunStatus.CANCELLED, error=reason)
