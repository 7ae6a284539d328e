"""``run(settings) -> exit code``: one whole run, from YAML to summary, with signal handling.

Owns the event loop. The first SIGTERM/SIGINT cancels the execution in flight, stops the
agent and still writes the summary (exit 3) within ``Timeouts.shutdown``; a second one skips
the remaining cleanup (uvicorn's "force exit") but the summary is still written.

Start-up is ordered for speed: the input is checked first (nothing starts on bad input), then
the engine is launched (``prestart``: a native kernel boots in ~0.3-0.5 s) and only then are
the server, sync client, schema and report modules imported, so the two overlap. At the end,
the engine's exit overlaps writing the summary; the run still waits for it before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
import traceback
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runt_action.errors import (
    Cancelled,
    InfrastructureError,
    InputError,
    RuntActionError,
    RuntimeAgentError,
    RunTimeout,
)
from runt_action.orchestrator.agent_host import AgentHost, make_host_engine
from runt_action.orchestrator.runner import PlannedCell, Runner, plan_cells
from runt_action.results import CellStatus, LiveHooks, RunResult, RunStatus
from runt_action.timeouts import Timeouts

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.notebook import Notebook
    from runt_action.settings import Settings

__all__ = ["DEFAULT_SYNC_URL", "run"]

# Where the token may come from; a native kernel inherits our environment, so notebook code
# could read it there. Settings have already read them by the time we drop them.
_TOKEN_VARIABLES = ("INPUT_AUTH-TOKEN", "INPUT_AUTH_TOKEN", "AUTH_TOKEN", "RUNT_API_KEY")

DEFAULT_SYNC_URL = "wss://app.runt.run/livestore"
T = TypeVar("T")


# Engines launched before the event loop starts (they have ``prestart()``). Others start in
# the agent task as before.
_PRESTART_RUNTIMES = ("python", "pyodide")


def run(
    settings: Settings, *, notebook: Notebook | None = None, engine: Engine | None = None
) -> int:
    """Run the notebook named by ``settings``; InputError propagates (the CLI prints it).

    ``notebook``: the already loaded notebook of ``settings.notebook`` (saves a second parse).
    ``engine``: a native engine the caller prestarted on a guess, before the settings were
    known (see ``cli``); adopted if the settings agree, killed otherwise. The caller kills it
    in any case when run() raises.
    """
    started = time.monotonic()
    plan = _prepare(settings, notebook)  # every input error is raised here
    if engine is not None and not _can_adopt(settings, plan):
        _kill(engine)
        engine = None
    engine = engine or _prestart(settings, plan)
    from runt_action.report.ipynb import prewarm

    prewarm()  # nbformat's import + schema compile overlap the run, not its end
    try:
        return asyncio.run(_Run(settings, plan, engine, started=started).main())
    finally:
        _kill(engine)  # a no-op after a normal shutdown; never leave a kernel behind


def _kill(engine: Engine | None) -> None:
    kill = getattr(engine, "kill", None)
    if callable(kill):
        kill()


def _can_adopt(settings: Settings, plan: _Plan) -> bool:
    """An early kernel was launched as ``python`` with our environment minus the tokens and
    no secret variables: exactly what _prestart would launch now, if the settings agree."""
    return settings.runtime == "python" and not plan.env


@dataclass(slots=True)
class _Plan:
    """The checked input of a run: everything that can be wrong fails before anything starts."""

    notebook: Notebook
    cells: list[PlannedCell]
    env: dict[str, str]
    secrets: list[str]
    token: str | None
    sync_url: str | None
    timeouts: Timeouts
    out_dir: Path
    shown_params: dict[str, Any]


def _prepare(settings: Settings, notebook: Notebook | None) -> _Plan:
    from runt_action.notebook import load_notebook
    from runt_action.notebook.params import (
        masked_parameters,
        parameters_cell,
        resolve_parameters,
        secret_env,
        secret_names,
    )

    s = settings
    if s.notebook is None:
        from runt_action.errors import UsageError

        raise UsageError("no notebook given")
    if notebook is None:
        notebook = load_notebook(s.notebook)
    params = resolve_parameters(
        notebook,
        parameters_file=s.parameters_file,
        inline=list(s.params),
        action_input=s.parameters,
    )
    names = secret_names(s)
    env = secret_env(s)
    pcell = parameters_cell(params, names)
    cells = plan_cells(notebook, pcell.source if pcell is not None else None)
    token = s.auth_token.get_secret_value() if s.auth_token is not None else None
    _hide_token_from_children()
    sync_url: str | None = None
    if s.sync_url:
        from runt_action.orchestrator.remote import check_sync_url

        sync_url = check_sync_url(s.sync_url)
    if token and sync_url is None:
        sync_url = DEFAULT_SYNC_URL
    return _Plan(
        notebook=notebook,
        cells=cells,
        env=env,
        secrets=[v for v in (token, *env.values()) if v],
        token=token,
        sync_url=sync_url,
        timeouts=s.timeouts(),
        out_dir=_output_dir(s),
        shown_params=masked_parameters(params, names),
    )


def _prestart(settings: Settings, plan: _Plan) -> Engine | None:
    """Create the engine and launch its process now, so it boots while we import the rest."""
    if settings.runtime not in _PRESTART_RUNTIMES:
        return None
    engine = make_host_engine(
        settings.runtime,
        env=plan.env,
        mounts=list(settings.mounts),
        mount_readonly=settings.mount_readonly,
        output_dir=settings.output_dir,
    )
    prestart = getattr(engine, "prestart", None)
    if callable(prestart):
        prestart()
    return engine


def _output_dir(s: Settings) -> Path:
    if s.output is not None:
        return s.output.parent
    base = s.github_workspace or Path.cwd()
    return base / "runt-output"


@dataclass(slots=True)
class _Run:
    settings: Settings
    plan: _Plan
    engine: Engine | None = None  # prestarted; the agent adopts it
    stop_requested: int = 0  # signals received
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(
        default_factory=lambda: (
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
    )
    timings: dict[str, float] = field(default_factory=dict)
    work: asyncio.Task[tuple[str | None, str | None, str]] | None = None
    runner: Runner | None = None
    agent: AgentHost | None = None
    store: Any = None
    server: Any = None
    secrets: list[str] = field(default_factory=list)
    _link: tuple[str | None, str | None, str] | None = None  # (url, note, id) once known
    live: Any = None

    # -- the loop-level driver ------------------------------------------------------------

    async def main(self) -> int:
        s = self.settings
        plan = self.plan
        notebook, cells, env, token = plan.notebook, plan.cells, plan.env, plan.token
        sync_url, timeouts, out_dir = plan.sync_url, plan.timeouts, plan.out_dir
        shown_params = plan.shown_params
        self.secrets = list(plan.secrets)

        from runt_action.schema.ids import new_notebook_id

        notebook_id = s.notebook_id or new_notebook_id()
        live = self._live_hooks()
        self.live = live
        runner_box: dict[str, Runner] = {}
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)

        status = RunStatus.SUCCESS
        error: str | None = None
        link: str | None = None
        note: str | None = None
        try:
            self.work = asyncio.create_task(
                self._session(
                    notebook,
                    cells,
                    notebook_id,
                    sync_url,
                    token,
                    env,
                    timeouts,
                    out_dir,
                    live,
                    runner_box,
                )
            )
            try:
                link, note, notebook_id = await self.work
            except asyncio.CancelledError:
                if not self.stop_requested:
                    raise
                status, error = RunStatus.CANCELLED, "cancelled by a signal"
            died = self.agent.died() if self.agent is not None else None
            if died is not None and status == RunStatus.SUCCESS:
                # The runtime broke (it reported the cell as failed first): infrastructure.
                status, error = RunStatus.ERROR, f"the runtime agent failed: {died}"
        except RunTimeout as exc:
            status, error = RunStatus.ERROR, str(exc)
        except InputError:
            raise
        except RuntActionError as exc:
            status = RunStatus.CANCELLED if isinstance(exc, Cancelled) else RunStatus.ERROR
            error = str(exc)
        except Exception as exc:  # unmapped failure: still write the summary, exit 3
            status, error = RunStatus.ERROR, f"internal error: {type(exc).__name__}: {exc}"
            if os.environ.get("RUNT_DEBUG"):
                traceback.print_exc()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        if error is not None:
            error = self._scrub(error)
            print(f"runt-action: {error}", file=sys.stderr, flush=True)
        if self._link is not None:
            link, note, notebook_id = self._link
        runner = runner_box.get("runner")
        cell_results = runner.results if runner is not None else []
        if runner is not None:
            if status == RunStatus.CANCELLED:
                runner.mark_unfinished(CellStatus.CANCELLED, "run cancelled by a signal")
            elif status == RunStatus.ERROR:
                running = (
                    CellStatus.TIMEOUT if "notebook timeout" in (error or "") else CellStatus.FAILED
                )
                runner.mark_unfinished(running, error or "run aborted")
            self.timings.update(runner.timings)
        if status == RunStatus.SUCCESS and any(
            c.status in (CellStatus.FAILED, CellStatus.TIMEOUT) for c in cell_results
        ):
            status = RunStatus.FAILED
        self.timings["total"] = (time.monotonic() - self.started) * 1000
        result = RunResult(
            notebook_id=notebook_id,
            notebook_url=link,
            title=notebook.title,
            source_file=str(s.notebook),
            status=status,
            cells=cell_results,
            parameters=shown_params,
            duration_ms=self.timings["total"],
            runtime=s.runtime,
            started_at=self.started_at,
            error=error,
            location_note=note,
            timings=dict(self.timings),
        )
        if self.live is not None:
            self.live.close()
        try:
            self._publish(result, notebook, out_dir)
        finally:
            await self._engine_down()
        return result.exit_code

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _on_signal(self) -> None:
        self.stop_requested += 1
        if self.stop_requested == 1:
            print("runt-action: stopping (signal received); send again to force", file=sys.stderr)
            if self.work is not None:
                self.work.cancel()
        else:
            # Force: abandon the graceful cleanup; main() still writes the summary.
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task() and task.get_name() == "cleanup":
                    task.cancel()

    # -- one session: server, connections, agent, runner -----------------------------------

    async def _session(
        self,
        notebook: Notebook,
        cells: list[Any],
        notebook_id: str,
        sync_url: str | None,
        token: str | None,
        env: dict[str, str],
        timeouts: Timeouts,
        out_dir: Path,
        live: LiveHooks | None,
        runner_box: dict[str, Runner],
    ) -> tuple[str | None, str | None, str]:
        from runt_action.livestore.store import connect_store
        from runt_action.schema.state import NotebookMaterializer

        s = self.settings
        t0 = time.monotonic()
        link: str | None = None
        note: str | None = None
        user_id: str | None = None
        if sync_url is None:
            from runt_action.livestore.server import SyncServer

            db = out_dir / "runt-sync.sqlite"
            await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
            self.server = SyncServer(db, host="127.0.0.1", port=0)
            await self.server.start()
            sync_url = str(self.server.url)
            note = (
                f"Embedded run: notebook {notebook_id} is stored in {db} "
                f"(browse it with `runt-automate serve --db {db}`)"
            )
            self.timings["server_start"] = (time.monotonic() - t0) * 1000
        elif token:
            from runt_action.orchestrator.remote import register_notebook

            reg = await register_notebook(
                sync_url,
                token,
                title=notebook.title,
                fallback_id=notebook_id,
                limit=timeouts.request,
                create=not s.notebook_id,
            )
            notebook_id, user_id = reg.notebook_id, reg.user_id
            if reg.registered or s.notebook_id:
                link = self._link_for(sync_url, notebook_id)
            else:
                note = f"Notebook {notebook_id} on {sync_url} ({reg.note})"
            self.timings["register"] = (time.monotonic() - t0) * 1000
        else:
            link = self._link_for(sync_url, notebook_id) if s.app_url else None
            note = f"Notebook {notebook_id} on {sync_url}"
        self._link = (link, note, notebook_id)
        print(f"runt-action: notebook {notebook_id}: {link or note}", file=sys.stderr, flush=True)

        # The agent and our own connection start in parallel.
        if s.runtime != "none":
            self.agent = AgentHost(
                runtime=s.runtime,
                sync_url=sync_url,
                notebook_id=notebook_id,
                timeouts=timeouts,
                auth_token=token,
                user_id=user_id,
                env=env,
                mounts=list(s.mounts),
                mount_readonly=s.mount_readonly,
                output_dir=s.output_dir,
                engine=self.engine,
            )
            self.agent.start()
        t1 = time.monotonic()
        try:
            self.store = await self._guard(
                connect_store(
                    sync_url,
                    notebook_id,
                    {"authToken": token} if token else None,
                    NotebookMaterializer(),
                    client_id=f"automation-{secrets.token_hex(4)}",
                    session_id=secrets.token_hex(8),
                    timeouts=timeouts,
                )
            )
            self.timings["connect"] = (time.monotonic() - t1) * 1000
            runner = Runner(
                store=self.store,
                cells=cells,
                title=notebook.title,
                cell_timeout=timeouts.cell,
                startup_timeout=timeouts.startup,
                request_timeout=timeouts.request,
                stop_on_error=s.stop_on_error,
                hooks=live,
            )
            runner_box["runner"] = self.runner = runner
            try:
                async with asyncio.timeout(timeouts.notebook):
                    await self._guard(runner.prefill())
                    await self._guard(runner.wait_for_runtime())
                    await self._guard(runner.execute())
            except TimeoutError:
                runner.cancel_running("notebook timeout")
                raise RunTimeout(
                    f"the notebook timeout ({timeouts.notebook:g} s) expired"
                ) from None
            except asyncio.CancelledError:
                runner.cancel_running("cancelled by a signal")
                raise
        finally:
            cleanup = asyncio.create_task(self._cleanup(timeouts), name="cleanup")
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(cleanup)
            if not cleanup.done():
                with contextlib.suppress(BaseException):
                    await cleanup
        return link, note, notebook_id

    async def _guard(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` but fail fast if the agent dies meanwhile (no waiting for timeouts)."""
        agent_task = self.agent.task if self.agent is not None else None
        task = asyncio.ensure_future(aw)
        if agent_task is None:
            return await task
        try:
            await asyncio.wait({task, agent_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        assert self.agent is not None
        exc = self.agent.failure()
        if isinstance(exc, RuntActionError):
            raise exc
        raise RuntimeAgentError(f"the runtime agent failed: {exc!r}")

    async def _cleanup(self, timeouts: Timeouts) -> None:
        """Bounded: flush our events, stop the agent, close the store, stop the server."""
        grace = timeouts.shutdown
        deadline = time.monotonic() + (grace if grace is not None else 3600.0)

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.flush(timeout=min(left(), 5.0))
        if self.agent is not None:
            with contextlib.suppress(Exception):
                # The engine's exit (a kernel takes ~0.1 s) overlaps the rest and publishing;
                # _engine_down() waits for it.
                await self.agent.stop(left(), wait_engine=False)
        if self.store is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.store.close(), left())
        if self.server is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.server.stop(), left())

    async def _engine_down(self) -> None:
        """Wait (bounded) for the engine's shutdown that the agent began during cleanup."""
        if self.agent is None:
            return
        grace = self.plan.timeouts.shutdown
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.agent.engine_closed(), grace)

    # -- helpers --------------------------------------------------------------------------

    def _link_for(self, sync_url: str, notebook_id: str) -> str:
        app = self.settings.app_url
        if app:
            return f"{app.rstrip('/')}/nb/{notebook_id}"
        from runt_action.orchestrator.remote import notebook_link

        return notebook_link(sync_url, notebook_id)

    def _ipynb_path(self, notebook: Notebook, out_dir: Path) -> Path:
        s = self.settings
        return s.output if s.output is not None else out_dir / f"{notebook.path.stem}.ipynb"

    def _live_hooks(self) -> Any:
        """The live log; its constructor masks the secrets before anything else is printed."""
        from runt_action.report.commands import WorkflowCommands
        from runt_action.report.live import LiveLog
        from runt_action.report.scrub import Scrubber

        commands = WorkflowCommands(
            github_actions=self.settings.github_actions,
            masks=self.secrets,
            scrubber=Scrubber(self.secrets),
        )
        return LiveLog(commands)

    def _publish(self, result: RunResult, notebook: Notebook, out_dir: Path) -> None:
        from runt_action import report

        s = self.settings
        summary = s.summary or s.github_step_summary
        ipynb = self._ipynb_path(notebook, out_dir)
        try:
            report.publish(
                result,
                summary_path=summary,
                output_path=s.github_output,
                ipynb_path=ipynb,
                github_actions=s.github_actions,
                secrets=self.secrets,
            )
        except OSError as exc:
            raise InfrastructureError(f"could not write the report: {exc}") from None
        finally:
            # A root container must not leave root-owned files in the runner's checkout.
            report.hand_back(
                [out_dir, ipynb, s.output_dir, summary],
                s.github_workspace,
            )


def _hide_token_from_children() -> None:
    for name in _TOKEN_VARIABLES:
        os.environ.pop(name, None)
