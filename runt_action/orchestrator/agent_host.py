"""Host the runtime agent inside the orchestrator's process, on the orchestrator's own Store.

The agent still meets the orchestrator only through events: it commits and waits on the same
Store the runner uses, so one socket and one materialised copy of the notebook serve both
(runt-eval's roadmap: "single LiveStore connection across runtime agent and automation
client"). A remote agent (``runt-automate agent``) keeps its own connection.

The engine may be made (and its process launched) before the loop even starts, by
:func:`make_host_engine` and the engine's ``prestart()``; the host adopts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runt_action.errors import RuntimeAgentError

if TYPE_CHECKING:
    from runt_action.agents.artifacts import ArtifactUploader
    from runt_action.agents.core import RuntimeAgent
    from runt_action.agents.engine import Engine, ExecOutcome, OutputSink
    from runt_action.agents.executors import CellExecutor
    from runt_action.agents.forkserver import ForkServer
    from runt_action.livestore.store import Store
    from runt_action.orchestrator.plan import EngineSpec
    from runt_action.schema.state import NotebookState

__all__ = ["AgentHost", "adopt_engine", "make_host_engine", "prestart_engine"]

# What each engine was made for (runtime, kernel, python): an engine launched early, before the
# notebook chose its kernel (plan.choose_runtime) or its environment was made (uvenv.py), is
# adopted only if it is the same one.
_MADE_FOR: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def make_host_engine(spec: EngineSpec, forks: ForkServer | None = None) -> Engine:
    """The engine for ``spec`` (creating it starts nothing); ``forks``: a batch's fork
    server, that a default Python kernel is forked from."""
    from runt_action.agents.registry import make_engine

    opts: dict[str, Any] = {"env": dict(spec.env), "cwd": spec.cwd}
    if spec.runtime == "python":
        opts.update(environ=spec.environ, kernel=spec.kernel, python=spec.python)
        if forks is not None:
            opts["forks"] = forks
    if spec.runtime == "pyodide":
        opts.update(
            mounts=spec.mounts,
            mount_readonly=spec.mount_readonly,
            output_dir=spec.output_dir,
            packages=spec.packages,
            wheelhouse=spec.wheelhouse,
        )
    engine = make_engine(spec.runtime, **opts)
    with contextlib.suppress(TypeError):  # an engine that cannot be weakly referenced
        _MADE_FOR[engine] = (spec.runtime, spec.kernel, spec.python)
    return engine


def adopt_engine(engine: Engine | None, spec: EngineSpec | None) -> Engine | None:
    """``engine`` if it was made for ``spec``'s runtime and kernel; else it is killed and
    None returned (the caller starts the right one): the CLI launches a kernel from the
    settings alone, and the notebook's kernelspec may then choose another."""
    if engine is None:
        return None
    made_for = _MADE_FOR.get(engine)
    if spec is not None and made_for == (spec.runtime, spec.kernel, spec.python):
        return engine
    kill_engine(engine)
    return None


def prestart_engine(spec: EngineSpec | None, forks: ForkServer | None = None) -> Engine | None:
    """Make the engine and launch its process now (no event loop needed), so the runtime boots
    while the rest of the run imports and connects. Measured by ``make bench``: the kernel's
    ~0.3-0.5 s boot no longer adds to the run (see docs/benchmarks.md)."""
    if spec is None:
        return None
    engine = make_host_engine(spec, forks)
    prestart = getattr(engine, "prestart", None)
    if callable(prestart):
        prestart()
    return engine


def kill_engine(engine: Engine | None) -> None:
    """Synchronous last resort: never leave a kernel or Deno process behind."""
    kill = getattr(engine, "kill", None)
    if callable(kill):
        kill()


class _HostedEngine:
    """The engine as the agent sees it: ``shutdown()`` begins the shutdown and returns.

    Ending the session, flushing the store and writing the summary need nothing from the
    engine, so they overlap its exit; :meth:`AgentHost.engine_closed` waits for it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runtime_type = engine.runtime_type
        self.closed: asyncio.Future[None] | None = None

    def __getattr__(self, name: str) -> Any:  # anything engine-specific (pid, restart, ...)
        return getattr(self.engine, name)

    async def start(self) -> None:
        await self.engine.start()

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        return await self.engine.execute(code, sink, cell_id=cell_id)

    async def interrupt(self) -> None:
        await self.engine.interrupt()

    async def restart(self) -> None:
        await self.engine.restart()

    async def shutdown(self) -> None:
        if self.closed is None:
            self.closed = asyncio.ensure_future(self.engine.shutdown())
            await asyncio.sleep(0)  # let it send its request before we go on

    async def wait_closed(self) -> None:
        await self.shutdown()
        assert self.closed is not None
        await asyncio.shield(self.closed)


class AgentHost:
    """Start with ``start()`` (returns at once), watch ``task``, end with ``stop()``."""

    def __init__(
        self,
        store: Store[NotebookState],
        engine: Engine,
        *,
        runtime_id: str,
        session_id: str,
        display_name: str,
        interrupt_grace: float | None = 5.0,
        secrets: Sequence[str] = (),
        executors: Sequence[CellExecutor] | None = None,
        artifacts: ArtifactUploader | None = None,
    ) -> None:
        """``artifacts``: where the agent uploads outputs too large for one event.
        ``secrets``: masked by the agent in every output before it is committed, so neither
        the sync server nor its log nor a viewer ever receives them (the run's plan.secrets).
        ``executors``: one per cell kind the run executes (code only when None); the session
        announces exactly their capabilities."""
        self.store = store
        self.runtime_id = runtime_id
        self.session_id = session_id
        self.display_name = display_name
        self.interrupt_grace = interrupt_grace
        self.secrets = tuple(secrets)
        self.executors = executors
        self.artifacts = artifacts
        self.task: asyncio.Task[None] | None = None
        self._hosted = _HostedEngine(engine)
        self._agent: RuntimeAgent | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._main(), name="runtime-agent")
        return self.task

    async def _main(self) -> None:
        from runt_action.agents.core import RuntimeAgent

        engine = self._hosted
        try:
            self._agent = RuntimeAgent(
                self.store,
                engine,
                runtime_id=self.runtime_id,
                runtime_type=engine.runtime_type,
                actor_id=self.runtime_id,
                display_name=self.display_name,
                session_id=self.session_id,
                interrupt_grace=self.interrupt_grace,
                secrets=self.secrets,
                executors=self.executors,
                artifacts=self.artifacts,
            )
            await self._agent.run()
        finally:
            # Begun, not awaited: the engine's exit overlaps the rest of the cleanup.
            with contextlib.suppress(Exception):
                await engine.shutdown()

    async def engine_closed(self) -> None:
        """Until the engine's shutdown (begun when the agent task ended) is over."""
        if self._hosted.closed is not None:
            with contextlib.suppress(Exception):
                await self._hosted.wait_closed()

    async def stop(self, grace: float | None) -> None:
        """Ask the agent to end its session; bounded by ``grace``. The engine may still be
        exiting afterwards (await :meth:`engine_closed`)."""
        task = self.task
        if task is None or task.done():
            return
        if self._agent is not None:
            self._agent.stop()
        else:
            task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2.0)

    def failure(self) -> BaseException | None:
        """Why the agent task ended early (None while it runs)."""
        task = self.task
        if task is None or not task.done():
            return None
        if task.cancelled():
            return RuntimeAgentError("the runtime agent was cancelled")
        exc = task.exception()
        return exc or RuntimeAgentError("the runtime agent stopped unexpectedly")

    def died(self) -> BaseException | None:
        """The error the agent task raised (e.g. RuntimeDied), once it is over; else None."""
        task = self.task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()
