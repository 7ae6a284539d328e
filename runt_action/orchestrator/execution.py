"""One plan executed against its resources (:class:`RunExecution`), always ending in a result.

Shared by a single run (:mod:`.main`) and the batch layer (:mod:`runt_action.batch`: sweeps
and suites), so neither imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action.console import PREFIX
from runt_action.errors import Cancelled, InputError, RuntActionError, RunTimeout
from runt_action.orchestrator.checkpoint import Checkpoint, Tee
from runt_action.orchestrator.plan import RunPlan
from runt_action.orchestrator.runner import Runner
from runt_action.orchestrator.session import Session, open_session
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.orchestrator.verdict import VerdictPublisher
from runt_action.report.scrub import Scrubber
from runt_action.results import CellStatus, LiveHooks, RunResult, RunStatus

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.orchestrator.session import EmbeddedServer
    from runt_action.report.html import FragmentCache

__all__ = ["RunExecution", "scrub", "warm_report"]

_WARM_LOCK = threading.Lock()
_warmed = False


def warm_report() -> None:
    """The HTML report's one-time costs, paid once per process however many runs ask at once.

    Pygments loads its lexers lazily through a module ``__getattr__`` that is not thread-safe:
    two runs of a batch warming up in two threads got ``ImportError: cannot import name
    'PythonLexer'`` (issue #26). The first caller warms up; the others wait for it."""
    global _warmed
    from runt_action.report.html import prewarm

    with _WARM_LOCK:
        if _warmed:
            return
        prewarm()
        _warmed = True


def _checkpointable(path: Path) -> bool:
    return path.is_file() or not path.exists()


def scrub(plan: RunPlan, text: str) -> str:
    """Every secret masked, in every escaped form the reports know (report.scrub)."""
    from runt_action.report.scrub import Scrubber

    return Scrubber(plan.secrets).text(text)


def _language_info(engine: Engine | None) -> dict[str, Any] | None:
    """The runtime's ``language_info`` for the executed .ipynb, as papermill takes it from the
    kernel's kernel_info_reply (the native engine keeps it); None (the input's stays) when the
    runtime did not say."""
    info = getattr(engine, "language_info", None)
    return dict(info) if isinstance(info, dict) and info else None


@dataclass(slots=True)
class _Outcome:
    """How the run ended, decided by the type of what stopped it (never by message text)."""

    status: RunStatus = RunStatus.SUCCESS
    error: str | None = None
    running_cell: CellStatus = CellStatus.FAILED  # what the cell in flight becomes


async def _restore_artifacts(runner: Runner, session: Session) -> None:
    """Outputs that travelled as artifacts get their values back (orchestrator/artifacts.py),
    while the session is open; what a cell still running has shown is read too, for
    mark_unfinished (then restored from ``session.artifacts`` by :meth:`RunExecution._decide`)."""
    from runt_action.orchestrator.artifacts import fetch_artifacts, resolve_artifacts
    from runt_action.orchestrator.outputs import outputs_from_state

    if session.artifacts is not None:
        with contextlib.suppress(Exception):
            await resolve_artifacts(runner.results, session.artifacts)
            state = session.store.state
            partial = (o for r in runner.results for o in outputs_from_state(state, r.id))
            await fetch_artifacts(partial, session.artifacts)


@dataclass(slots=True)
class RunExecution:
    """One plan executed against its resources; always ends in a complete RunResult."""

    plan: RunPlan
    engine: Engine | None
    shutdown: Shutdown
    started: float = field(default_factory=time.monotonic)
    shared_server: EmbeddedServer | None = None
    timings: dict[str, float] = field(default_factory=dict)
    started_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")[:19] + "Z"
    )
    located: list[Session] = field(default_factory=list)
    runner: Runner | None = None
    work: asyncio.Task[None] | None = None
    html_fragments: FragmentCache = field(default_factory=dict)  # checkpoints + final report
    verdicts: VerdictPublisher | None = None  # the verdict in the store, while it is open

    async def execute(self, live: LiveHooks) -> RunResult:
        """Run; whatever happens, the result (errors are in it, never raised)."""
        checkpoint = Checkpoint(self._save_checkpoint)
        try:
            outcome = await self._execute(Tee([live, checkpoint]))
        finally:
            checkpoint.close()
        if outcome.error is not None:
            print(f"{PREFIX}{scrub(self.plan, outcome.error)}", file=sys.stderr, flush=True)
        return self._result(outcome)

    # -- the work -------------------------------------------------------------------------

    async def _execute(self, live: LiveHooks) -> _Outcome:
        self.work = asyncio.create_task(self._work(live))
        try:
            await self.work
        except BaseException as exc:
            outcome = self._outcome_of(exc)
            if outcome is None:
                raise
            if os.environ.get("RUNT_DEBUG") and not isinstance(exc, RuntActionError):
                traceback.print_exc()
            return outcome
        died = self._agent_died()
        if died is not None:
            return died
        lost = await self._write_back_problems()
        if lost:  # never a success with files that did not reach the host
            return _Outcome(RunStatus.ERROR, "\n".join(lost))
        return _Outcome()

    def _outcome_of(self, exc: BaseException) -> _Outcome | None:
        """How an exception out of the work ends the run; None: not ours to decide (raise)."""
        if isinstance(exc, asyncio.CancelledError):
            if not self.shutdown.should_exit:
                return None
            return _Outcome(RunStatus.CANCELLED, "cancelled by a signal", CellStatus.CANCELLED)
        if isinstance(exc, RunTimeout):
            return _Outcome(RunStatus.ERROR, str(exc), CellStatus.TIMEOUT)
        if isinstance(exc, InputError):
            return None
        if isinstance(exc, RuntActionError):
            cancelled = isinstance(exc, Cancelled)
            status = RunStatus.CANCELLED if cancelled else RunStatus.ERROR
            return _Outcome(status, str(exc) or type(exc).__name__)
        if isinstance(exc, Exception):  # a bug of ours: still write the summary, exit 3
            return _Outcome(RunStatus.ERROR, f"internal error: {type(exc).__name__}: {exc}")
        return None

    def _agent_died(self) -> _Outcome | None:
        """The runtime broke (it reported the cell as failed first)."""
        session = self.located[0] if self.located else None
        died = session.agent.died() if session is not None and session.agent else None
        if died is None:
            return None
        return _Outcome(RunStatus.ERROR, f"the runtime agent failed: {died}")

    async def _publish_verdict(self, exc: BaseException | None) -> None:
        """The run's verdict into its notebook before the session closes (orchestrator/
        verdict.py), decided as :meth:`_result` decides it. A problem found only after the
        session closed (Pyodide's last copy back of files) is in the files, not the store."""
        publisher, runner = self.verdicts, self.runner
        self.verdicts = None  # no checkpoint publishes after the final verdict
        if publisher is None or runner is None:
            return
        outcome = self._outcome_of(exc) if exc is not None else self._agent_died() or _Outcome()
        if outcome is None:
            return  # abandoned by whoever cancelled us (a batch, watch): no verdict to give
        status = self._decide(outcome)
        error = scrub(self.plan, outcome.error) if outcome.error is not None else None
        publisher.publish(runner.results, status, error=error)
        await publisher.flush(self.shutdown.left(self.plan.timeouts.request or 10.0))

    async def _write_back_problems(self) -> list[str]:
        """Pyodide copies what cells wrote back to the host once more as it shuts down (begun
        when the session closed, for files a background task wrote late); what that last copy
        could not do fails the run. Only that step is awaited: the process exit still overlaps
        the publishing. Engines without a copy back (native) have no ``written_back``."""
        written_back = getattr(self.engine, "written_back", None)
        if not callable(written_back):
            return []
        try:
            return list(await asyncio.wait_for(written_back(), self.shutdown.left()))
        except TimeoutError:
            return ["the last copy of the files back to the host did not finish in time"]

    async def _work(self, live: LiveHooks) -> None:
        plan = self.plan
        async with open_session(
            plan, self.engine, self.shutdown, self.timings, self.located, self.shared_server
        ) as session:
            runner = self.runner = plan.runner(session.store, live)
            masks = Scrubber(plan.secrets)
            self.verdicts = VerdictPublisher(session.store, scrub=masks.text)
            ended: list[BaseException | None] = [None]

            async def closing() -> None:
                # Once the agent has stopped: its last completions (a cell interrupted by a
                # signal reports its own KeyboardInterrupt) and artifacts are in, so the
                # verdict is the one the report gives; the store is still open to take it.
                await _restore_artifacts(runner, session)
                await self._publish_verdict(ended[0])

            session.closing.append(closing)
            deadline = asyncio.timeout(plan.timeouts.notebook)
            try:
                async with deadline:
                    await session.guard(runner.prefill())
                    warm = None if runner.runtime_live() else self._prewarm_report()
                    await session.guard(runner.wait_for_runtime())
                    await session.guard(runner.execute())
                    if warm is not None:
                        await warm
            except TimeoutError:
                if not deadline.expired():
                    raise
                runner.cancel_running("notebook timeout")
                limit = plan.timeouts.notebook
                raise RunTimeout(f"the notebook timeout ({limit:g} s) expired") from None
            except asyncio.CancelledError:
                runner.cancel_running("cancelled by a signal")
                raise
            finally:
                ended[0] = sys.exc_info()[1]

    def _prewarm_report(self) -> asyncio.Future[None] | None:
        """While the runtime still boots, the event loop only waits: render the report's
        one-time costs in a thread meanwhile, instead of after the last cell. Measured
        (docs/benchmarks.md, 2026-12-01): Pyodide from its snapshot 0.13 s faster end to
        end; a native kernel is usually ready by then, and then nothing is started."""
        if self.plan.html_path is None:
            return None

        async def warm() -> None:
            try:
                await asyncio.to_thread(warm_report)
            except Exception as exc:  # writing the report pays (and reports) it instead
                print(
                    f"{PREFIX}note: warming up the HTML report failed ({exc!r})",
                    file=sys.stderr,
                )

        return asyncio.ensure_future(warm())

    def cancel(self) -> None:
        if self.work is not None and not self.work.done():
            self.work.cancel()

    def _save_checkpoint(self) -> None:
        """The notebook so far (status "running"), written where the final one will be."""
        from runt_action import report

        plan, runner = self.plan, self.runner
        if runner is None:
            return
        session = self.located[0] if self.located else None
        if self.verdicts is not None:  # the cells decided so far, into the store too
            self.verdicts.publish(runner.results, RunStatus.RUNNING)
        snapshot = plan.result(
            runner.results,
            RunStatus.RUNNING,
            notebook_id=session.notebook_id if session is not None else None,
            notebook_url=session.link if session is not None else None,
            duration_ms=(time.monotonic() - self.started) * 1000,
            started_at=self.started_at,
            location_note=session.note if session is not None else None,
        )
        # Only into regular files: a FIFO or device gets the final notebook once, at the end.
        html = plan.html_path
        if html is not None:
            warm_report()  # never rendering while another run's warm-up thread loads Pygments
        report.write_documents(
            snapshot,
            ipynb=plan.ipynb_path if _checkpointable(plan.ipynb_path) else None,
            html=html if html is not None and _checkpointable(html) else None,
            secrets=plan.secrets,
            fragment_cache=self.html_fragments,
        )
        # A job killed after this checkpoint must not leave a root-owned notebook behind.
        report.hand_back([plan.ipynb_path, html], plan.github_workspace)

    # -- the result -----------------------------------------------------------------------

    def _decide(self, outcome: _Outcome) -> RunStatus:
        """The run's status; an unfinished run's cells get theirs (idempotent)."""
        runner = self.runner
        cells = runner.results if runner is not None else []
        if runner is not None and outcome.status != RunStatus.SUCCESS:
            runner.mark_unfinished(outcome.running_cell, outcome.error or "run aborted")
            session = self.located[0] if self.located else None
            if session is not None and session.artifacts is not None:  # re-read partial outputs
                from runt_action.orchestrator.artifacts import restore_outputs

                restore_outputs(cells, session.artifacts)
        failed = (CellStatus.FAILED, CellStatus.TIMEOUT)
        if outcome.status == RunStatus.SUCCESS and any(c.status in failed for c in cells):
            return RunStatus.FAILED
        return outcome.status

    def _result(self, outcome: _Outcome) -> RunResult:
        plan, runner = self.plan, self.runner
        session = self.located[0] if self.located else None
        cells = runner.results if runner is not None else []
        status = self._decide(outcome)
        if runner is not None:
            self.timings.update(runner.timings)
        self.timings["total"] = (time.monotonic() - self.started) * 1000
        return plan.result(
            cells,
            status,
            notebook_id=session.notebook_id if session is not None else None,
            notebook_url=session.link if session is not None else None,
            duration_ms=self.timings["total"],
            started_at=self.started_at,
            error=scrub(plan, outcome.error) if outcome.error is not None else None,
            location_note=session.note if session is not None else None,
            timings=dict(self.timings),
            language_info=_language_info(self.engine),
        )

    async def engine_down(self) -> None:
        """Wait (bounded) for the engine's exit that the agent began during cleanup."""
        session = self.located[0] if self.located else None
        if session is None or session.agent is None:
            return
        with contextlib.suppress(TimeoutError):  # run() kills it then
            await asyncio.wait_for(session.agent.engine_closed(), self.shutdown.left())
