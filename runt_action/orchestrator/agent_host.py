"""Host the runtime agent inside the orchestrator's process, on its own Store connection.

The agent is a peer on the sync server like any browser runtime: it gets its own
connection and payload, and the orchestrator only ever sees it through events. Running it as
a task in the same loop keeps start-up parallel and shutdown under our control.

The engine may be made (and its process launched) before the loop even starts, by
:func:`make_host_engine` and the engine's ``prestart()``; the host adopts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action.errors import RuntimeAgentError
from runt_action.timeouts import Timeouts

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine, ExecOutcome, OutputSink

__all__ = ["AgentHost", "make_host_engine"]


def make_host_engine(
    runtime: str,
    *,
    env: Mapping[str, str] | None = None,
    mounts: Sequence[str] = (),
    mount_readonly: bool = False,
    output_dir: Path | None = None,
) -> Engine:
    """The engine an AgentHost with these options runs (creating it starts nothing)."""
    from runt_action.agents.registry import make_engine

    opts: dict[str, Any] = {"env": dict(env or {})}
    if runtime == "pyodide":
        opts.update(mounts=tuple(mounts), mount_readonly=mount_readonly, output_dir=output_dir)
    return make_engine(runtime, **opts)


class _HostedEngine:
    """The engine as the agent sees it: ``shutdown()`` begins the shutdown and returns.

    The host owns the engine's lifetime. Ending the session, flushing the store and (in a run)
    writing the summary need nothing from the engine, so they overlap its exit (a kernel takes
    ~0.1 s to exit politely); :meth:`AgentHost.engine_closed` waits for it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runtime_type = engine.runtime_type
        self.closed: asyncio.Future[None] | None = None

    def __getattr__(self, name: str) -> Any:  # anything engine-specific (pid, boot_info, ...)
        return getattr(self.engine, name)

    async def start(self) -> None:
        await self.engine.start()

    async def execute(self, code: str, sink: OutputSink) -> ExecOutcome:
        return await self.engine.execute(code, sink)

    async def interrupt(self) -> None:
        await self.engine.interrupt()

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
        *,
        runtime: str,
        sync_url: str,
        notebook_id: str,
        timeouts: Timeouts,
        auth_token: str | None = None,
        user_id: str | None = None,
        env: Mapping[str, str] | None = None,
        mounts: Sequence[str] = (),
        mount_readonly: bool = False,
        output_dir: Path | None = None,
        engine: Engine | None = None,
    ) -> None:
        """``engine``: one made (maybe prestarted) by the caller; default: made from the
        options when the task starts."""
        self.runtime = runtime
        self.sync_url = sync_url
        self.notebook_id = notebook_id
        self.timeouts = timeouts
        self._token = auth_token
        self.user_id = user_id
        self.env = dict(env or {})
        self.mounts = tuple(mounts)
        self.mount_readonly = mount_readonly
        self.output_dir = output_dir
        self.task: asyncio.Task[None] | None = None
        self._agent: Any = None
        self._store: Any = None
        self._engine = engine
        self._hosted: _HostedEngine | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._main(), name="runtime-agent")
        return self.task

    async def _main(self) -> None:
        from runt_action.agents.core import RuntimeAgent
        from runt_action.livestore.store import connect_store
        from runt_action.schema.ids import new_session_id
        from runt_action.schema.state import NotebookMaterializer

        if self._engine is None:
            self._engine = make_host_engine(
                self.runtime,
                env=self.env,
                mounts=self.mounts,
                mount_readonly=self.mount_readonly,
                output_dir=self.output_dir,
            )
        engine = self._hosted = _HostedEngine(self._engine)
        runtime_type = engine.runtime_type
        runtime_id = f"{runtime_type}-runtime-{os.getpid()}"
        session_id = new_session_id(runtime_type, runtime_id)
        payload: Any = None
        if self._token is not None:
            payload = {
                "authToken": self._token,
                "runtime": True,
                "runtimeId": runtime_id,
                "sessionId": session_id,
                "userId": self.user_id or "",
            }
        try:
            self._store = await connect_store(
                self.sync_url,
                self.notebook_id,
                payload,
                NotebookMaterializer(),
                client_id=f"runtime-{secrets.token_hex(4)}",
                session_id=session_id,
                timeouts=self.timeouts,
            )
            self._agent = RuntimeAgent(
                self._store,
                engine,
                runtime_id=runtime_id,
                runtime_type=runtime_type,
                capabilities={
                    "canExecuteCode": True,
                    "canExecuteSql": False,
                    "canExecuteAi": False,
                },
                actor_id=runtime_id,
                display_name=f"runt-action {self.runtime} runtime",
                session_id=session_id,
            )
            await self._agent.run()
        finally:
            # Begun, not awaited (the agent usually began it already): the engine's exit
            # overlaps closing the store. stop() / engine_closed() wait for it.
            with contextlib.suppress(Exception):
                await engine.shutdown()
            if self._store is not None:
                with contextlib.suppress(Exception):
                    await self._store.close()

    async def engine_closed(self) -> None:
        """Until the engine's shutdown (begun when the agent task ended) is over."""
        if self._hosted is not None and self._hosted.closed is not None:
            with contextlib.suppress(Exception):
                await self._hosted.wait_closed()

    async def stop(self, grace: float | None, *, wait_engine: bool = True) -> None:
        """Ask the agent to terminate its session and the engine; bounded by ``grace``.

        ``wait_engine=False`` returns once the agent is done, while the engine may still be
        exiting (await :meth:`engine_closed` later).
        """
        await self._stop_agent(grace)
        if wait_engine:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.engine_closed(), grace)

    async def _stop_agent(self, grace: float | None) -> None:
        task = self.task
        if task is None or task.done():
            return
        agent = self._agent
        stopper = getattr(agent, "stop", None) if agent is not None else None
        try:
            if callable(stopper):
                result = stopper()
                if asyncio.iscoroutine(result):
                    await asyncio.wait_for(result, grace)
                await asyncio.wait_for(asyncio.shield(task), grace)
            else:
                task.cancel()
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
