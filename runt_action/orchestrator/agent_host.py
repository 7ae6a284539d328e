"""Host the runtime agent inside the orchestrator's process, on its own Store connection.

The agent is a peer on the sync server like any browser runtime: it gets its own
connection and payload, and the orchestrator only ever sees it through events. Running it as
a task in the same loop keeps start-up parallel and shutdown under our control.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runt_action.errors import RuntimeAgentError
from runt_action.timeouts import Timeouts

__all__ = ["AgentHost"]


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
    ) -> None:
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

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._main(), name="runtime-agent")
        return self.task

    def _engine_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"env": self.env}
        if self.runtime == "pyodide":
            opts.update(
                mounts=self.mounts, mount_readonly=self.mount_readonly, output_dir=self.output_dir
            )
        return opts

    async def _main(self) -> None:
        from runt_action.agents.core import RuntimeAgent
        from runt_action.agents.registry import make_engine
        from runt_action.livestore.store import connect_store
        from runt_action.schema.ids import new_session_id
        from runt_action.schema.state import NotebookMaterializer

        engine = make_engine(self.runtime, **self._engine_options())
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
        self._store = await connect_store(
            self.sync_url,
            self.notebook_id,
            payload,
            NotebookMaterializer(),
            client_id=f"runtime-{secrets.token_hex(4)}",
            session_id=session_id,
            timeouts=self.timeouts,
        )
        try:
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
            with contextlib.suppress(Exception):
                await engine.shutdown()
            with contextlib.suppress(Exception):
                await self._store.close()

    async def stop(self, grace: float | None) -> None:
        """Ask the agent to terminate its session and the engine; bounded by ``grace``."""
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
