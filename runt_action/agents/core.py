"""The engine-agnostic runtime agent: a runt runtime session that claims and runs executions.

It follows runt-schema §3 (lifecycle) and §6 (output reporting, renewal) with two deliberate
improvements over the Pyodide JS agent: a cell whose code raised completes with status "error"
(not "success"), and an interrupted cell completes with "cancelled".

Everything is reactive: a ``store.subscribe`` callback wakes the loop on every confirmed batch;
there is no polling. The store's state reflects confirmed events only, so the agent remembers
what it has committed but not yet seen confirmed (``_claimed``) to avoid double commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from runt_action.agents.engine import Engine, ExecStatus
from runt_action.agents.sink import EventSink
from runt_action.errors import RuntimeDied
from runt_action.livestore.events import Event
from runt_action.livestore.store import Store
from runt_action.schema.state import NotebookState

__all__ = ["DEFAULT_CAPABILITIES", "RuntimeAgent", "iso_now", "new_session_id"]

log = logging.getLogger(__name__)

DEFAULT_CAPABILITIES: Mapping[str, bool] = {
    "canExecuteCode": True,
    "canExecuteSql": False,
    "canExecuteAi": False,
}
_REINTERRUPT_S = 1.0  # an interrupt can land before the kernel armed its handler; repeat it
_STOP_GRACE_S = 2.0  # how long shutdown lets an interrupted cell report before giving up


def iso_now() -> str:
    """``Schema.Date`` on the wire: JS ``toISOString()`` (millisecond precision, Z)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_session_id(runtime_type: str, runtime_id: str) -> str:
    """``<runtimeType>-<runtimeId>-<ms>-<random base36>`` like agent-core's config.ts."""
    try:
        from runt_action.schema.ids import new_session_id as schema_new_session_id
    except ImportError:  # pragma: no cover - schema/ids.py is written in parallel
        rand = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        return f"{runtime_type}-{runtime_id}-{int(time.time() * 1000)}-{rand}"
    return str(schema_new_session_id(runtime_type, runtime_id))


class _Run:
    """One execution the agent is working on."""

    def __init__(self, queue_id: str, cell_id: str, execution_count: int | None) -> None:
        self.queue_id = queue_id
        self.cell_id = cell_id
        self.execution_count = execution_count
        self.cancel_requested = False
        self.engine_running = False
        self.task: asyncio.Task[None] | None = None


class RuntimeAgent:
    """A runtime session on one notebook's Store, executing cells with one Engine."""

    def __init__(
        self,
        store: Store[NotebookState],
        engine: Engine,
        *,
        runtime_id: str,
        runtime_type: str | None = None,
        capabilities: Mapping[str, Any] | None = None,
        actor_id: str | None = None,
        display_name: str | None = None,
        session_id: str | None = None,
        renew_interval: float = 15.0,
        valid_for_ms: int = 30000,
    ) -> None:
        self.store = store
        self.engine = engine
        self.runtime_id = runtime_id
        self.runtime_type = runtime_type or engine.runtime_type
        self.capabilities = dict(capabilities or DEFAULT_CAPABILITIES)
        # The runt UI shows a bot icon for presence ids containing "runtime" or "python".
        self.actor_id = actor_id or f"runtime-{runtime_id}"
        self.display_name = display_name or f"runt automate ({self.runtime_type})"
        self.session_id = session_id or new_session_id(self.runtime_type, runtime_id)
        self.renew_interval = renew_interval
        self.valid_for_ms = valid_for_ms
        self.cleared_by = f"runtime-{runtime_id}"
        self.ready = asyncio.Event()  # set once the session is "ready" and claiming
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._claimed: set[str] = set()  # ExecutionAssigned committed (maybe unconfirmed)
        self._done: set[str] = set()  # queue ids this agent has started
        self._current: _Run | None = None
        self._died: RuntimeDied | None = None
        self._displaced = False
        self._store_error: BaseException | None = None

    # -- public ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to shut down cleanly (RuntimeSessionTerminated "shutdown")."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Run the session until :meth:`stop`, displacement, or cancellation of this task.

        Raises errors.RuntimeDied (after reporting it in the notebook) if the engine died.
        """
        reason: str | None = "shutdown"
        renew: asyncio.Task[None] | None = None
        try:
            with self.store.subscribe(self._on_change):
                watch = asyncio.create_task(self._watch_store())
                try:
                    await self._start_session()
                    renew = asyncio.create_task(self._renew_forever())
                    await self._loop()
                finally:
                    watch.cancel()
            if self._store_error is not None:
                raise self._store_error
            if self._displaced:
                reason = None
            elif self._died is not None:
                reason = "error"
        except asyncio.CancelledError:
            raise  # the host is shutting us down: still a clean "shutdown"
        except BaseException:
            reason = "error"
            raise
        finally:
            if renew is not None:
                renew.cancel()
            await asyncio.shield(self._finish(reason))
        if self._died is not None:
            raise self._died

    # -- session -----------------------------------------------------------------------------

    def _commit(self, name: str, args: dict[str, Any]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self.store.commit(name, args)
        fut.add_done_callback(_swallow)
        return fut

    async def _start_session(self) -> None:
        for sess in list(self.store.state.sessions.values()):
            if sess.is_active and sess.session_id != self.session_id:
                self._commit(
                    "v1.RuntimeSessionTerminated",
                    {"sessionId": sess.session_id, "reason": "displaced"},
                )
        started = self._commit(
            "v1.RuntimeSessionStarted",
            {
                "sessionId": self.session_id,
                "runtimeId": self.runtime_id,
                "runtimeType": self.runtime_type,
                "capabilities": self.capabilities,
            },
        )
        self._commit(
            "v1.ActorProfileSet",
            {"id": self.actor_id, "type": "runtime_agent", "displayName": self.display_name},
        )
        self._commit("v1.PresenceSet", {"userId": self.actor_id})
        await self.engine.start()
        await started  # claims require our own session to be visible in the confirmed state
        self._commit(
            "v1.RuntimeSessionStatusChanged", {"sessionId": self.session_id, "status": "ready"}
        )
        self.ready.set()

    async def _watch_store(self) -> None:
        """A waiter that never matches: it only ever ends by raising the store's failure."""
        try:
            await self.store.wait_for(lambda _s: None)
        except Exception as exc:
            self._store_error = exc
            self._wake.set()

    async def _renew_forever(self) -> None:
        while True:
            self._commit(
                "v1.RuntimeSessionRenewal",
                {
                    "sessionId": self.session_id,
                    "renewedAt": iso_now(),
                    "validForMs": self.valid_for_ms,
                },
            )
            await asyncio.sleep(self.renew_interval)

    async def _finish(self, reason: str | None) -> None:
        """Terminate the session (unless displaced), stop the engine, flush the store."""
        run = self._current
        if run is not None and run.task is not None and not run.task.done():
            run.cancel_requested = True
            if run.engine_running:
                with contextlib.suppress(Exception):
                    await self.engine.interrupt()
            done, _ = await asyncio.wait({run.task}, timeout=_STOP_GRACE_S)
            if not done:
                run.task.cancel()
                with contextlib.suppress(BaseException):
                    await run.task
        if reason is not None:
            self._commit(
                "v1.RuntimeSessionTerminated", {"sessionId": self.session_id, "reason": reason}
            )
        with contextlib.suppress(Exception):
            await self.engine.shutdown()
        with contextlib.suppress(Exception):
            await self.store.flush(timeout=5.0)

    # -- reactive loop -----------------------------------------------------------------------

    def _on_change(self, state: NotebookState, events: Sequence[Event]) -> None:
        run = self._current
        if run is not None:
            for ev in events:
                args = ev.args if isinstance(ev.args, dict) else {}
                if ev.name == "v1.AllExecutionsCancelled" or (
                    ev.name == "v1.ExecutionCancelled" and args.get("queueId") == run.queue_id
                ):
                    self._request_cancel(run)
        self._wake.set()

    def _request_cancel(self, run: _Run) -> None:
        if run.cancel_requested:
            return
        run.cancel_requested = True
        if run.engine_running:
            asyncio.get_running_loop().create_task(self._interrupt_until_done(run))

    async def _interrupt_until_done(self, run: _Run) -> None:
        while run.engine_running and run is self._current:
            with contextlib.suppress(Exception):
                await self.engine.interrupt()
            await asyncio.sleep(_REINTERRUPT_S)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            state = self.store.state
            if self._stop.is_set() or self._died is not None or self._store_error is not None:
                return
            own = state.sessions.get(self.session_id)
            if own is not None and not own.is_active:
                log.info("runtime session %s was displaced; stopping", self.session_id)
                self._displaced = True
                return
            self._claim(state)
            if self._current is None:
                self._start_next(state)
            await self._wake.wait()

    def _claim(self, state: NotebookState) -> None:
        """Assign the first pending row to us (and, as each claim lands, the next)."""
        for row in state.pending_queue():
            qid = row.id
            if qid in self._claimed:
                continue
            self._claimed.add(qid)
            self._commit(
                "v1.ExecutionAssigned", {"queueId": qid, "runtimeSessionId": self.session_id}
            )
            return

    def _start_next(self, state: NotebookState) -> None:
        for qid, row in state.queue.items():
            if qid in self._done:
                continue
            if row.status != "assigned" or row.assigned_runtime_session != self.session_id:
                continue
            self._done.add(qid)
            run = _Run(qid, row.cell_id, row.execution_count)
            self._current = run
            run.task = asyncio.create_task(self._execute(run))
            run.task.add_done_callback(lambda _t: self._wake.set())
            return

    # -- one execution -----------------------------------------------------------------------

    async def _execute(self, run: _Run) -> None:
        try:
            await self._execute_inner(run)
        except RuntimeDied as exc:
            self._died = exc
        except asyncio.CancelledError:
            self._complete(run, "cancelled", 0.0, "the runtime shut down")
            raise
        except Exception as exc:  # an agent bug must not leave the row executing forever
            log.exception("execution %s failed inside the agent", run.queue_id)
            self._complete(run, "error", 0.0, f"{type(exc).__name__}: {exc}")
        finally:
            self._current = None
            self._wake.set()

    async def _execute_inner(self, run: _Run) -> None:
        cell = self.store.state.cells.get(run.cell_id)
        self._commit(
            "v1.ExecutionStarted",
            {
                "queueId": run.queue_id,
                "cellId": run.cell_id,
                "runtimeSessionId": self.session_id,
                "startedAt": iso_now(),
            },
        )
        self._commit(
            "v1.CellOutputsCleared",
            {"cellId": run.cell_id, "wait": False, "clearedBy": self.cleared_by},
        )
        sink = EventSink(
            self._commit,
            cell_id=run.cell_id,
            execution_count=run.execution_count,
            cleared_by=self.cleared_by,
        )
        if cell is None:
            sink.error("CellNotFound", f"cell {run.cell_id!r} does not exist", [])
            sink.close()
            self._complete(run, "error", 0.0, f"cell {run.cell_id!r} not found")
            return
        if run.cancel_requested:
            sink.close()
            self._complete(run, "cancelled", 0.0, "cancelled before it started")
            return
        if cell.cell_type in ("markdown", "raw"):  # nothing to execute
            sink.close()
            self._complete(run, "success", 0.0)
            return
        if cell.cell_type != "code":  # capabilities say: no sql, no ai
            sink.error(
                "UnsupportedCellType", f"this runtime cannot execute {cell.cell_type} cells", []
            )
            sink.close()
            self._complete(run, "error", 0.0, f"unsupported cell type {cell.cell_type}")
            return
        source = cell.source
        t0 = time.perf_counter()
        run.engine_running = True
        try:
            outcome = await self.engine.execute(source, sink)
        except RuntimeDied as exc:
            run.engine_running = False
            sink.flush()
            sink.error("RuntimeDied", str(exc), [])
            sink.close()
            self._complete(run, "error", _ms(t0), f"RuntimeDied: {exc}")
            raise
        finally:
            run.engine_running = False
        sink.close()
        error = f"{sink.last_error[0]}: {sink.last_error[1]}" if sink.last_error else None
        if outcome.status is ExecStatus.INTERRUPTED:
            self._complete(run, "cancelled", _ms(t0), "interrupted")
        elif outcome.status is ExecStatus.OK and error is None:
            self._complete(run, "success", _ms(t0))
        else:  # raised (an engine that reports the error but returns OK counts too)
            self._complete(run, "error", _ms(t0), error or str(outcome.extra.get("ename", "error")))

    def _complete(
        self, run: _Run, status: str, duration_ms: float, error: str | None = None
    ) -> None:
        args: dict[str, Any] = {
            "queueId": run.queue_id,
            "cellId": run.cell_id,
            "status": status,
            "completedAt": iso_now(),
            "executionDurationMs": round(duration_ms),
        }
        if error is not None:
            args["error"] = error
        self._commit("v1.ExecutionCompleted", args)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _swallow(fut: asyncio.Future[Any]) -> None:
    """Commit futures fail when the store closes; the agent does not wait on most of them."""
    if not fut.cancelled():
        exc = fut.exception()
        if exc is not None:
            log.debug("commit failed: %s", exc)
