"""A runtime agent as its own process or task: connect a Store, run until SIGTERM.

The sync payload follows runt-schema §5.3: with a token, anode's *Runtime* variant
``{authToken, runtime: true, runtimeId, sessionId, userId}`` (userId must be the token's
user, fetched from ``GET /api/me`` when not given); without one (the embedded server), no
credentials at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from runt_action.agents.artifacts import ArtifactUploader
from runt_action.agents.core import RuntimeAgent, new_session_id
from runt_action.agents.executors import CodeExecutor, SqlExecutor
from runt_action.agents.executors.ai import AiConfig, AiExecutor
from runt_action.agents.payload import runtime_payload
from runt_action.agents.registry import make_engine
from runt_action.errors import RuntimeStartTimeout, SyncAuthError, SyncConnectError
from runt_action.timeouts import Timeouts

__all__ = ["api_origin", "fetch_user_id", "run_agent"]

log = logging.getLogger(__name__)


def api_origin(sync_url: str) -> str:
    """``wss://host/livestore`` → ``https://host`` (where /api lives)."""
    parts = urlsplit(sync_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


async def fetch_user_id(sync_url: str, auth_token: str, limit: float | None = 10.0) -> str:
    """The token's user id from ``GET /api/me``; anode refuses a runtime whose userId differs."""
    import aiohttp

    url = f"{api_origin(sync_url)}/api/me"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as http,
            http.get(url, headers={"Authorization": f"Bearer {auth_token}"}) as resp,
        ):
            if resp.status in (401, 403):
                raise SyncAuthError(f"{url} refused the token (HTTP {resp.status})")
            resp.raise_for_status()
            body = await resp.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SyncConnectError(f"could not read the user id from {url}: {exc}") from exc
    user_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(user_id, str):
        raise SyncAuthError(f"{url} returned no user id")
    return user_id


async def run_agent(
    *,
    notebook_id: str,
    sync_url: str,
    runtime: str = "pyodide",
    auth_token: str | None = None,
    timeouts: Timeouts,
    user_id: str | None = None,
    runtime_id: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    engine_opts: Mapping[str, Any] | None = None,
    handle_signals: bool = True,
    ready: asyncio.Event | None = None,
    secrets: Sequence[str] = (),
    ai: AiConfig | None = None,
) -> None:
    """Run one runtime agent on ``notebook_id`` until SIGTERM/SIGINT (or task cancellation).

    ``secrets`` are masked in every output before it leaves this process (see agents.core).
    ``ai``: AI cells' model service (executors/ai.py); None: AI cells are not announced.

    Raises errors.RuntimeStartTimeout if the session is not ready within ``timeouts.startup``,
    errors.RuntimeDied if the engine died (after reporting it in the notebook), and the
    livestore Sync* errors if the server cannot be reached.
    """
    from runt_action.livestore.store import connect_store
    from runt_action.schema.state import NotebookMaterializer

    opts: dict[str, Any] = dict(engine_opts or {})
    if env is not None:
        opts["env"] = dict(env)
    if cwd is not None:
        opts["cwd"] = cwd
    engine = make_engine(runtime, **opts)
    runtime_id = runtime_id or f"{engine.runtime_type}-runtime-{os.getpid()}"
    session_id = new_session_id(engine.runtime_type, runtime_id)
    if auth_token and user_id is None:
        user_id = await fetch_user_id(sync_url, auth_token, timeouts.request)
    payload = runtime_payload(
        auth_token=auth_token, runtime_id=runtime_id, session_id=session_id, user_id=user_id
    )
    store = await connect_store(
        sync_url,
        notebook_id,
        payload,
        NotebookMaterializer(),
        client_id=runtime_id,
        session_id=session_id,
        timeouts=timeouts,
    )
    try:
        agent = RuntimeAgent(
            store,
            engine,
            runtime_id=runtime_id,
            session_id=session_id,
            interrupt_grace=timeouts.interrupt,
            secrets=secrets,
            executors=[CodeExecutor(), SqlExecutor(), *([AiExecutor(ai)] if ai else [])],
            # large outputs go to the artifact API at the sync URL's origin (runt-schema §5.2)
            artifacts=ArtifactUploader(api_origin(sync_url), notebook_id, auth_token),
        )
        with _stop_on_signals(agent.stop, enabled=handle_signals):
            task = asyncio.create_task(agent.run())
            await _wait_ready(agent, task, timeouts.startup)
            if ready is not None:
                ready.set()
            await task
    finally:
        await store.close()


async def _wait_ready(agent: RuntimeAgent, task: asyncio.Task[None], limit: float | None) -> None:
    waiter = asyncio.ensure_future(agent.ready.wait())
    try:
        await asyncio.wait([waiter, task], timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if agent.ready.is_set() or task.done():
        if task.done() and not agent.ready.is_set():
            task.result()  # start failed: raise its error
        return
    agent.stop()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise RuntimeStartTimeout(f"the {agent.runtime_type} runtime was not ready within {limit} s")


@contextlib.contextmanager
def _stop_on_signals(stop: Any, *, enabled: bool) -> Any:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if enabled:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or no signals on this platform
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
