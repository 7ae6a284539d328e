"""``run(settings) -> exit code``: one whole run, read top to bottom.

1. The inputs become an immutable plan (:mod:`.plan`); bad input raises here, nothing started.
2. The runtime's process is launched at once, so it boots while the rest imports and connects.
3. The resources open (:mod:`.session`): embedded server or remote registration, one Store,
   the in-process agent.
4. The runner (:mod:`.runner`) writes the cells and requests executions, one at a time, and
   reacts to the events that report their progress.
5. Whatever happened (success, a failed cell, a timeout, a signal, a broken runtime), the
   result is assembled and published: summary, step outputs, annotations, the .ipynb.

Signals follow uvicorn (:mod:`.shutdown`): the first cancels the work and cleans up within
``Timeouts.shutdown``; the second skips what cleanup is left. The summary is written either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action import eventloop
from runt_action.console import PREFIX
from runt_action.errors import (
    Cancelled,
    InputError,
    OutputWriteError,
    RuntActionError,
    RunTimeout,
)
from runt_action.orchestrator.agent_host import adopt_engine, kill_engine, prestart_engine
from runt_action.orchestrator.checkpoint import Checkpoint, Tee
from runt_action.orchestrator.plan import DEFAULT_SYNC_URL, RunPlan, make_plan
from runt_action.orchestrator.runner import Runner
from runt_action.orchestrator.session import Session, open_session
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.results import CellStatus, LiveHooks, RunResult, RunStatus

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.notebook import Notebook
    from runt_action.orchestrator.session import EmbeddedServer
    from runt_action.report.html import FragmentCache
    from runt_action.report.ownership import Footprint
    from runt_action.settings import Settings

__all__ = ["DEFAULT_SYNC_URL", "RunExecution", "publish_run", "run"]


def run(
    settings: Settings, *, notebook: Notebook | None = None, engine: Engine | None = None
) -> int:
    """Run the notebook named by ``settings``; InputError propagates (the CLI prints it).

    ``notebook``: the already loaded notebook of ``settings.notebook`` (saves a second parse).
    ``engine``: launched by the CLI from the same settings (see cli._early_kernel); adopted,
    or killed by the caller when the plan says otherwise (bad input, a sweep).
    """
    from runt_action.report.ownership import Footprint

    started = time.monotonic()
    # A root container hands what the run leaves (user code's files, Pyodide's write-backs,
    # the sync log, caches in HOME) back to their owners however the run ends.
    footprint = Footprint.begin(settings.github_workspace)
    try:
        plan = make_plan(settings, notebook)
        footprint.add(_written_paths(plan))
        if plan.sweep:
            from runt_action.orchestrator.sweep import run_sweep

            kill_engine(engine)
            return run_sweep(settings, plan)
        engine = adopt_engine(engine, plan.engine) or prestart_engine(plan.engine)
        return eventloop.run(_run_one(plan, engine, started))
    finally:
        kill_engine(engine)  # a no-op after a clean shutdown; never leave a process behind
        _settle(footprint)


def _written_paths(plan: RunPlan) -> list[Path | str | None]:
    """What the run may write outside the workspace and HOME (both are walked anyway)."""
    spec = plan.engine
    log = plan.sync_log
    return [
        plan.out_dir,
        plan.ipynb_path,
        plan.html_path,
        plan.summary_path,
        plan.summary_copy,
        *plan.extra_paths,
        *((log, f"{log}-wal", f"{log}-shm", f"{log}-journal") if log is not None else ()),
        *((spec.output_dir, spec.cwd) if spec is not None else ()),
        *(m.partition(":")[0] for m in (spec.mounts if spec is not None else ())),
    ]


def _settle(footprint: Footprint) -> None:
    """Hand the run's files back (bounded; see report/ownership.py); say so when cut short."""
    settled = footprint.settle()
    if settled.truncated is not None:
        print(
            f"{PREFIX}warning: stopped handing files back to their owner after "
            f"{settled.directories} directories (under {settled.truncated}); "
            "files the run wrote further on may stay root's",
            file=sys.stderr,
            flush=True,
        )


async def _run_one(plan: RunPlan, engine: Engine | None, started: float) -> int:
    from runt_action import report
    from runt_action.orchestrator.session import embedded_server

    shutdown = Shutdown(plan.timeouts.shutdown)
    loop_note = eventloop.note()
    where = plan.where() + (f", {loop_note}" if loop_note else "")
    print(f"{PREFIX}{where}", file=sys.stderr, flush=True)  # always the first line
    # The live log masks the secrets before anything else is printed.
    live = report.live_log(
        github_actions=plan.github_actions,
        secrets=list(plan.secrets),
        log_output=plan.log_output,
    )
    for note in plan.package_notes:
        print(f"{PREFIX}{note}", file=sys.stderr, flush=True)
    # With --view the server (and its viewer page) outlives the run, until Ctrl-C.
    viewing = await embedded_server(plan) if plan.view_port is not None else None
    execution = RunExecution(plan, engine, shutdown, started=started, shared_server=viewing)
    shutdown.install(execution.cancel)
    try:
        result = await execution.execute(live)
    finally:
        shutdown.uninstall()
    live.close()
    try:
        code = publish_run(plan, result, html_fragments=execution.html_fragments)
    finally:
        await execution.engine_down()
    if viewing is not None:
        await _keep_viewing(viewing, result.notebook_id)
    return code


async def _keep_viewing(viewing: EmbeddedServer, notebook_id: str) -> None:
    """The run is over; its page stays up until Ctrl-C (or SIGTERM)."""
    assert viewing.viewer is not None
    url = viewing.viewer.entry_url(notebook_id)  # a fresh one-time code
    print(f"{PREFIX}the notebook stays at {url}; Ctrl-C to stop", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(viewing.stop(), 5.0)


def publish_run(
    plan: RunPlan, result: RunResult, *, html_fragments: FragmentCache | None = None
) -> int:
    """Write everything (.ipynb, HTML report, outputs, summary, annotations); a file that
    could not be written is exit 3, after all the others were written."""
    from runt_action import report

    extra: dict[str, tuple[Path, Callable[[Path], object]]] = {}
    if plan.html_path is not None:
        from runt_action.report.html import write_html

        extra["html"] = (
            plan.html_path,
            lambda path: write_html(
                result, path, secrets=plan.secrets, fragment_cache=html_fragments
            ),
        )
    if plan.summary_copy is not None:
        from runt_action.report.files import write_file
        from runt_action.report.scrub import Scrubber
        from runt_action.report.summary import render_summary

        def summary_copy(path: Path) -> None:
            write_file(path, render_summary(result, scrubber=Scrubber(plan.secrets)))

        extra["summary"] = (plan.summary_copy, summary_copy)
    output_dir = plan.engine.output_dir if plan.engine is not None else None
    if output_dir is not None and output_dir.is_dir():
        result.artifacts["outputs"] = str(output_dir.absolute())
    try:
        report.publish(
            result,
            summary_path=plan.summary_path,
            output_path=plan.github_output,
            ipynb_path=plan.ipynb_path,
            github_actions=plan.github_actions,
            secrets=plan.secrets,
            extra_files=extra,
        )
    except OutputWriteError as exc:
        for line in str(exc).splitlines():
            print(f"{PREFIX}{_scrub(plan, line)}", file=sys.stderr, flush=True)
        return OutputWriteError.exit_code
    finally:
        # A root container must not leave root-owned files in the runner's checkout.
        report.hand_back(
            [
                plan.out_dir,
                plan.ipynb_path,
                plan.summary_path,
                plan.summary_copy,
                *plan.extra_paths,
            ],
            plan.github_workspace,
        )
    return result.exit_code


def _checkpointable(path: Path) -> bool:
    return path.is_file() or not path.exists()


def _scrub(plan: RunPlan, text: str) -> str:
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

    async def execute(self, live: LiveHooks) -> RunResult:
        """Run; whatever happens, the result (errors are in it, never raised)."""
        checkpoint = Checkpoint(self._save_checkpoint)
        try:
            outcome = await self._execute(Tee([live, checkpoint]))
        finally:
            checkpoint.close()
        if outcome.error is not None:
            print(f"{PREFIX}{_scrub(self.plan, outcome.error)}", file=sys.stderr, flush=True)
        return self._result(outcome)

    # -- the work -------------------------------------------------------------------------

    async def _execute(self, live: LiveHooks) -> _Outcome:
        self.work = asyncio.create_task(self._work(live))
        try:
            await self.work
        except asyncio.CancelledError:
            if not self.shutdown.should_exit:
                raise
            return _Outcome(RunStatus.CANCELLED, "cancelled by a signal", CellStatus.CANCELLED)
        except RunTimeout as exc:
            return _Outcome(RunStatus.ERROR, str(exc), CellStatus.TIMEOUT)
        except InputError:
            raise
        except RuntActionError as exc:
            cancelled = isinstance(exc, Cancelled)
            status = RunStatus.CANCELLED if cancelled else RunStatus.ERROR
            return _Outcome(status, str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug of ours: still write the summary, exit 3
            if os.environ.get("RUNT_DEBUG"):
                traceback.print_exc()
            return _Outcome(RunStatus.ERROR, f"internal error: {type(exc).__name__}: {exc}")
        session = self.located[0] if self.located else None
        died = session.agent.died() if session is not None and session.agent else None
        if died is not None:  # the runtime broke (it reported the cell as failed first)
            return _Outcome(RunStatus.ERROR, f"the runtime agent failed: {died}")
        lost = await self._write_back_problems()
        if lost:  # never a success with files that did not reach the host
            return _Outcome(RunStatus.ERROR, "\n".join(lost))
        return _Outcome()

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

    def _prewarm_report(self) -> asyncio.Future[None] | None:
        """While the runtime still boots, the event loop only waits: render the report's
        one-time costs in a thread meanwhile, instead of after the last cell. Measured
        (docs/benchmarks.md, 2026-12-01): Pyodide from its snapshot 0.13 s faster end to
        end; a native kernel is usually ready by then, and then nothing is started."""
        if self.plan.html_path is None:
            return None
        from runt_action.report.html import prewarm

        async def warm() -> None:
            try:
                await asyncio.to_thread(prewarm)
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

    def _result(self, outcome: _Outcome) -> RunResult:
        plan, runner = self.plan, self.runner
        session = self.located[0] if self.located else None
        cells = runner.results if runner is not None else []
        status = outcome.status
        if runner is not None:
            if status != RunStatus.SUCCESS:
                runner.mark_unfinished(outcome.running_cell, outcome.error or "run aborted")
            self.timings.update(runner.timings)
        failed = (CellStatus.FAILED, CellStatus.TIMEOUT)
        if status == RunStatus.SUCCESS and any(c.status in failed for c in cells):
            status = RunStatus.FAILED
        self.timings["total"] = (time.monotonic() - self.started) * 1000
        return plan.result(
            cells,
            status,
            notebook_id=session.notebook_id if session is not None else None,
            notebook_url=session.link if session is not None else None,
            duration_ms=self.timings["total"],
            started_at=self.started_at,
            error=_scrub(plan, outcome.error) if outcome.error is not None else None,
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
