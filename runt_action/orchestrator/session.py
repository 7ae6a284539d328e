"""The resources of one run, opened in order and closed in reverse by an AsyncExitStack.

embedded server (or the remote notebook's registration) -> the Store (one socket, shared by
the runner and the in-process agent) -> the agent. Closing is bounded by the shutdown grace
(see :mod:`.shutdown`): agent session ended, our events flushed, socket closed, server
stopped. The engine's own exit overlaps all of that and is awaited last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from runt_action.agents.executors import CodeExecutor, SqlExecutor
from runt_action.agents.payload import runtime_payload
from runt_action.console import PREFIX
from runt_action.errors import RuntActionError, RuntimeAgentError
from runt_action.orchestrator.agent_host import AgentHost

if TYPE_CHECKING:
    from runt_action.agents.artifacts import ArtifactUploader
    from runt_action.agents.engine import Engine
    from runt_action.agents.executors.ai import AiExecutor
    from runt_action.livestore.server import SyncServer
    from runt_action.livestore.store import Store
    from runt_action.orchestrator.artifacts import ArtifactReader
    from runt_action.orchestrator.plan import RunPlan
    from runt_action.orchestrator.shutdown import Shutdown
    from runt_action.schema.state import NotebookState
    from runt_action.viewer import Viewer

__all__ = ["EmbeddedServer", "Session", "embedded_server", "open_session"]

T = TypeVar("T")


@dataclass(slots=True)
class Session:
    """What a run talks to once its resources are up."""

    store: Store[NotebookState]
    notebook_id: str
    link: str | None  # the live notebook's URL, when there is one
    note: str | None  # where the notebook is, when there is no link
    agent: AgentHost | None
    server: EmbeddedServer | None
    # Reads back outputs that travelled as artifacts (orchestrator/artifacts.py).
    artifacts: ArtifactReader | None = None
    # Run once the in-process agent has stopped (its last completions are in the store) and
    # before the store closes: what the run still writes into its notebook (the verdict).
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def guard(self, aw: Awaitable[T]) -> T:
        """Await ``aw``, but fail at once if the in-process agent dies meanwhile."""
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


@contextlib.asynccontextmanager
async def open_session(
    plan: RunPlan,
    engine: Engine | None,
    shutdown: Shutdown,
    timings: dict[str, float],
    located: list[Session],
    shared_server: EmbeddedServer | None = None,
) -> AsyncIterator[Session]:
    """Open everything a run needs; ``located`` receives the session as soon as the notebook
    has an id and a place, so a run interrupted later still reports where it was.

    ``shared_server``: an embedded server owned by the caller (a sweep's runs share one)."""
    from runt_action.livestore.store import connect_store
    from runt_action.schema.ids import new_notebook_id, new_session_id
    from runt_action.schema.state import NotebookMaterializer

    async with AsyncExitStack() as stack:
        t0 = time.monotonic()
        notebook_id = plan.notebook_id or new_notebook_id()
        server: EmbeddedServer | None = None
        link: str | None = None
        note: str | None = None
        user_id: str | None = None
        sync_url = plan.sync_url
        if sync_url is None:
            if shared_server is not None:
                server = shared_server
            else:
                server = await embedded_server(plan)
                stack.push_async_callback(_bounded, server.stop, shutdown)
            sync_url = server.url
            note = _embedded_note(plan, notebook_id)
            if server.viewer is not None:
                link = server.viewer.url(notebook_id)
            timings["server_start"] = _ms(t0)
        elif plan.token:
            from runt_action.orchestrator.remote import register_notebook

            reg = await register_notebook(
                sync_url,
                plan.token,
                title=plan.notebook.title,
                fallback_id=notebook_id,
                limit=plan.timeouts.request,
                create=plan.notebook_id is None,
            )
            notebook_id, user_id = reg.notebook_id, reg.user_id
            if reg.registered or plan.notebook_id:
                link = _link(plan, sync_url, notebook_id)
            else:
                note = f"Notebook {notebook_id} on {sync_url} ({reg.note})"
            timings["register"] = _ms(t0)
        else:
            link = _link(plan, sync_url, notebook_id) if plan.app_url else None
            note = f"Notebook {notebook_id} on {sync_url}"
        # The note (where to look at the notebook) ends the run's report: said once, there.
        shown = f"notebook {notebook_id}: {link}" if link else f"notebook {notebook_id}"
        print(f"{PREFIX}{shown}", file=sys.stderr, flush=True)
        if server is not None and server.viewer is not None:
            entry = server.viewer.entry_url(notebook_id)  # a one-time code, never the token
            print(f"{PREFIX}live notebook: {entry}", file=sys.stderr, flush=True)

        # One connection for the runner and the in-process agent. With a token it carries
        # the runtime payload, since the agent's session lives on it. The embedded server's
        # token never leaves this process: it is handed over here, in memory.
        token = server.token if server is not None else plan.token
        runtime_id = session_id = None
        if engine is not None:
            runtime_id = f"{engine.runtime_type}-runtime-{os.getpid()}"
            session_id = new_session_id(engine.runtime_type, runtime_id)
        t1 = time.monotonic()
        store: Store[NotebookState] = await connect_store(
            sync_url,
            notebook_id,
            _payload(token, runtime_id, session_id, user_id),
            NotebookMaterializer(),
            client_id=f"automation-{secrets.token_hex(4)}",
            session_id=session_id or secrets.token_hex(8),
            timeouts=plan.timeouts,
        )
        stack.push_async_callback(_close_store, store, shutdown)
        closing: list[Callable[[], Awaitable[None]]] = []
        stack.push_async_callback(_run_closing, closing)
        timings["connect"] = _ms(t1)

        agent: AgentHost | None = None
        reader, uploader = _artifact_ends(server, sync_url, notebook_id, token, plan)
        if engine is not None:
            assert runtime_id is not None and session_id is not None
            agent = AgentHost(
                store,
                engine,
                runtime_id=runtime_id,
                session_id=session_id,
                display_name=f"runt-action {plan.runtime} runtime",
                interrupt_grace=plan.timeouts.interrupt,
                secrets=plan.secrets,
                artifacts=uploader,
                executors=[CodeExecutor(), SqlExecutor(), *_ai_executors(plan)],
            )
            agent.start()
            stack.push_async_callback(_stop_agent, agent, shutdown)
        session = Session(store, notebook_id, link, note, agent, server, reader, closing)
        located.append(session)
        yield session


@dataclass(slots=True)
class EmbeddedServer:
    """The embedded sync server, and the live viewer mounted on it with ``--view``.

    It always requires a random token of its own (``token``), so no other local process
    can pull a run's events or push cells into its runtime; the runner and the in-process
    agent get it in memory, the viewer's visitors a one-time code.
    """

    server: SyncServer
    viewer: Viewer | None = None

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def token(self) -> str:
        token = self.server.token
        assert token is not None, "an embedded server always has a token"
        return token

    async def stop(self) -> None:
        await self.server.stop()


async def embedded_server(plan: RunPlan) -> EmbeddedServer:
    """In memory by default: an embedded run leaves no event log (outputs may hold secrets).
    With ``sync-log`` the log is kept in that file, with every secret value scrubbed. With
    ``--view`` the live viewer is mounted on it, on the port asked for, and its URL printed."""
    from runt_action.livestore.auth import new_secret
    from runt_action.livestore.server import SyncServer

    kwargs: dict[str, Any] = {}
    if plan.sync_log is not None:
        from runt_action.report.scrub import Scrubber

        await asyncio.to_thread(plan.sync_log.parent.mkdir, parents=True, exist_ok=True)
        scrubber = Scrubber(plan.secrets)
        if scrubber:
            kwargs["scrub"] = scrubber.text
    server = SyncServer(
        plan.sync_log,
        host="127.0.0.1",
        port=plan.view_port or 0,
        token=new_secret(),
        **kwargs,
    )
    viewer = None
    if plan.view_port is not None:
        from runt_action.viewer import attach_viewer

        viewer = attach_viewer(server, secrets=plan.secrets)
    await server.start()
    return EmbeddedServer(server, viewer)


def _embedded_note(plan: RunPlan, notebook_id: str) -> str:
    """Where to look at an embedded run's notebook: a command or file that really shows it."""
    if plan.sync_log is not None:
        return (
            f"Embedded run: the event log of notebook {notebook_id} is kept in {plan.sync_log}; "
            f"`runt-automate serve --db {plan.sync_log}` shows it at "
            f"http://127.0.0.1:8787/nb/{notebook_id}"
        )
    if plan.github_actions:
        # --view would serve on 127.0.0.1 inside the runner (or the action's container): no
        # browser reaches it. The files, published with upload-artifact, are what shows it.
        from runt_action.workspace import workspace_relative

        path = workspace_relative(plan.html_path or plan.ipynb_path)
        shown = f"the HTML report {path}" if plan.html_path else f"the executed notebook {path}"
        return (
            f"Embedded run (in-memory sync server): {shown} shows notebook {notebook_id}; "
            "publish it with actions/upload-artifact to open it from the run's page"
        )
    shown = f"the HTML report {plan.html_path}" if plan.html_path else f"{plan.ipynb_path}"
    return (
        f"Embedded run (in-memory sync server): {shown} shows notebook {notebook_id}; "
        "run with --view to watch it live in a browser"
    )


def _artifact_ends(
    server: EmbeddedServer | None,
    sync_url: str,
    notebook_id: str,
    token: str | None,
    plan: RunPlan,
) -> tuple[ArtifactReader, ArtifactUploader]:
    """Where large outputs go and are read back: the sync URL's HTTP origin (wss→https, host
    only, runt-schema §5.2), the embedded server's own store for reading when it is ours."""
    from runt_action.agents.artifacts import ArtifactUploader
    from runt_action.orchestrator.artifacts import ArtifactReader
    from runt_action.orchestrator.remote import http_origin

    origin = http_origin(sync_url)
    limit = plan.timeouts.request
    uploader = ArtifactUploader(origin, notebook_id, token, timeout=None)
    if server is not None:
        return ArtifactReader(local=server.server.artifacts), uploader
    return ArtifactReader(origin=origin, token=token, timeout=limit), uploader


def _ai_executors(plan: RunPlan) -> list[AiExecutor]:
    """AI cells run in this process (the key never enters the kernel), when configured."""
    if plan.ai is None:
        return []
    from runt_action.agents.executors.ai import AiExecutor

    return [AiExecutor(plan.ai)]


def _payload(
    token: str | None, runtime_id: str | None, session_id: str | None, user_id: str | None
) -> dict[str, Any] | None:
    """The runtime payload when the in-process agent shares the socket, else the user one."""
    if token is None:
        return None
    if runtime_id is None or session_id is None:
        return {"authToken": token}
    return runtime_payload(
        auth_token=token, runtime_id=runtime_id, session_id=session_id, user_id=user_id
    )


def _link(plan: RunPlan, sync_url: str, notebook_id: str) -> str:
    if plan.app_url:
        return f"{plan.app_url.rstrip('/')}/nb/{notebook_id}"
    from runt_action.orchestrator.remote import notebook_link

    return notebook_link(sync_url, notebook_id)


def _ms(t0: float) -> float:
    return (time.monotonic() - t0) * 1000


async def _bounded(stop: Any, shutdown: Shutdown) -> None:
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(stop(), shutdown.left())


async def _close_store(store: Store[NotebookState], shutdown: Shutdown) -> None:
    """Our last events (cancellations, the agent's termination) reach the server first."""
    with contextlib.suppress(Exception):
        await store.flush(timeout=shutdown.left(cap=5.0))
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(store.close(), shutdown.left())


async def _run_closing(closing: list[Callable[[], Awaitable[None]]]) -> None:
    for step in closing:
        await step()


async def _stop_agent(agent: AgentHost, shutdown: Shutdown) -> None:
    with contextlib.suppress(Exception):
        await agent.stop(shutdown.left())
