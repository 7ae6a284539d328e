"""The engine-agnostic runtime agent: a runt runtime session that claims and runs executions.

It follows runt-schema §3 (lifecycle) and §6 (output reporting, renewal) with two deliberate
improvements over the Pyodide JS agent: a cell whose code raised completes with status "error"
(not "success"), and an interrupted cell completes with "cancelled".

Everything is reactive: the ``store.subscribe`` callback claims and starts work on every
confirmed batch; there is no polling. The store's state reflects confirmed events only, so the
agent remembers what it has committed but not yet seen confirmed (``_unconfirmed``) to avoid
double commits. It keeps the queue ids it has seen requested or assigned to it, so a batch
costs O(its events), not a scan of the whole queue.

Latency per cell (issue #7): when this is the only active runtime session of the notebook
(always so in the embedded run), a pending row starts at once; nobody else can take it, so
its ``ExecutionAssigned`` needs no confirmation first. The engine gets the cell before the
claim, ``ExecutionStarted`` and the clear are committed, so they cost nothing on the critical
path; outputs are held until then, so the log order is the canonical one. With other sessions
present ``ExecutionAssigned`` is last-writer-wins, so the agent waits for its claim to be
confirmed before executing, as the JS agent does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from runt_action.agents.engine import Engine, ExecStatus
from runt_action.agents.sink import EventSink
from runt_action.errors import RuntimeDied
from runt_action.livestore.events import Event
from runt_action.livestore.store import Store
from runt_action.schema.state import Cell, NotebookState

__all__ = ["DEFAULT_CAPABILITIES", "RuntimeAgent", "iso_now", "new_session_id"]

log = logging.getLogger(__name__)

DEFAULT_CAPABILITIES: Mapping[str, bool] = {
    "canExecuteCode": True,
    "canExecuteSql": False,
    "canExecuteAi": False,
}
_REINTERRUPT_S = 1.0  # an interrupt can land before the kernel armed its handler; repeat it
_STOP_GRACE_S = 2.0  # how long shutdown lets an interrupted cell report before giving up
# Queue events whose names do not start with "v1.Execution" (the others all do).
_QUEUE_EVENTS = frozenset({"v1.MultipleExecutionRequested", "v1.AllExecutionsCancelled"})


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

    def __init__(
        self, queue_id: str, cell_id: str, execution_count: int | None, *, claim: bool = False
    ) -> None:
        self.queue_id = queue_id
        self.claim = claim  # ExecutionAssigned is still to be committed (by _announce)
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
        self._claimed: set[str] = set()  # assigned to us (by our commit or anyone's event)
        self._unconfirmed: set[str] = set()  # our ExecutionAssigned, not yet seen confirmed
        self._done: set[str] = set()  # queue ids this agent has started
        self._requested: deque[str] = deque()  # seen requested, maybe not pending any more
        self._mine: deque[str] = deque()  # claimed, not started yet, in assignment order
        self._active = False  # the loop runs: batches may claim and start work
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
                self._seed(self.store.state)
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

    def _seed(self, state: NotebookState) -> None:
        """Rows that existed before we subscribed; later ones arrive as events."""
        for row in state.queue.values():
            if row.status == "pending":
                self._requested.append(row.id)
            elif row.status == "assigned" and row.assigned_runtime_session == self.session_id:
                self._claimed.add(row.id)
                self._mine.append(row.id)

    def _on_change(self, state: NotebookState, events: Sequence[Event]) -> None:
        run = self._current
        for ev in events:
            name = ev.name
            if not name.startswith("v1.Execution") and name not in _QUEUE_EVENTS:
                continue
            args = ev.args if isinstance(ev.args, dict) else {}
            qid = args.get("queueId")
            if name == "v1.ExecutionRequested":
                if isinstance(qid, str):
                    self._requested.append(qid)
            elif name == "v1.MultipleExecutionRequested":
                for info in args.get("cellsInfo") or ():
                    if isinstance(info, dict) and isinstance(info.get("queueId"), str):
                        self._requested.append(info["queueId"])
            elif name == "v1.ExecutionAssigned":
                if args.get("runtimeSessionId") == self.session_id and isinstance(qid, str):
                    if qid in self._claimed:
                        self._unconfirmed.discard(qid)
                    else:  # someone assigned a row to us
                        self._claimed.add(qid)
                        self._mine.append(qid)
            elif run is not None and (
                name == "v1.AllExecutionsCancelled"
                or (name == "v1.ExecutionCancelled" and qid == run.queue_id)
            ):
                self._request_cancel(run)
        if self._active:
            self._advance(state)

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
        """Claiming and starting happen in the callbacks; this only waits for the end."""
        self._active = True
        try:
            while True:
                self._wake.clear()
                if self._should_end(self.store.state):
                    return
                self._advance(self.store.state)
                await self._wake.wait()
        finally:
            self._active = False

    def _should_end(self, state: NotebookState) -> bool:
        if self._stop.is_set() or self._died is not None or self._store_error is not None:
            return True
        own = state.sessions.get(self.session_id)
        if own is not None and not own.is_active:
            if not self._displaced:
                log.info("runtime session %s was displaced; stopping", self.session_id)
            self._displaced = True
            return True
        return False

    def _advance(self, state: NotebookState) -> None:
        """Claim the next pending row and, when idle, start the next row that is ours."""
        if self._should_end(state):
            self._wake.set()
            return
        self._claim(state)
        if self._current is None:
            self._start_next(state)

    def _claim(self, state: NotebookState) -> None:
        """Assign the first pending row to us (and, as each claim lands, the next)."""
        requested = self._requested
        while requested:
            qid = requested.popleft()
            row = state.queue.get(qid)
            # A row leaves "pending" for good: nothing turns it back (runt-schema §2).
            if row is None or row.status != "pending" or qid in self._claimed:
                continue
            self._claimed.add(qid)
            self._unconfirmed.add(qid)
            if self._current is None and not self._mine and self._alone(state):
                # Idle and alone: run it now; the claim is committed as soon as the engine
                # has the cell, ahead of ExecutionStarted.
                self._start(qid, row.cell_id, row.execution_count, claim=True)
                return
            self._mine.append(qid)
            self._commit_claim(qid)
            return

    def _commit_claim(self, queue_id: str) -> None:
        self._commit(
            "v1.ExecutionAssigned", {"queueId": queue_id, "runtimeSessionId": self.session_id}
        )

    def _start_next(self, state: NotebookState) -> None:
        """Start our earliest claimed row: confirmed, or still pending when we are alone."""
        mine = self._mine
        while mine:
            qid = mine[0]
            row = state.queue.get(qid)
            if row is None or qid in self._done:
                mine.popleft()
                continue
            ours = row.status == "assigned" and row.assigned_runtime_session == self.session_id
            if not ours and qid in self._unconfirmed and row.status in ("pending", "assigned"):
                # Our claim is on its way and will win (last writer); start early only if
                # no other runtime could be claiming the same row meanwhile.
                if row.status != "pending" or not self._alone(state):
                    return
                ours = True
            mine.popleft()
            if not ours:
                continue  # cancelled, finished, or taken by a runtime that claimed after us
            self._start(qid, row.cell_id, row.execution_count, claim=False)
            return

    def _start(
        self, queue_id: str, cell_id: str, execution_count: int | None, *, claim: bool
    ) -> None:
        self._done.add(queue_id)
        run = _Run(queue_id, cell_id, execution_count, claim=claim)
        self._current = run
        run.task = asyncio.create_task(self._execute(run))

    def _alone(self, state: NotebookState) -> bool:
        """No other active runtime session: nobody else claims rows of this notebook."""
        sid = self.session_id
        return not any(s.is_active and s.session_id != sid for s in state.sessions.values())

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
            if self._active and self._died is None:
                self._advance(self.store.state)  # the next row at once, no loop round trip
            else:
                self._wake.set()

    async def _execute_inner(self, run: _Run) -> None:
        cell = self.store.state.cells.get(run.cell_id)
        if cell is None or run.cancel_requested or cell.cell_type != "code":
            self._announce(run)
            self._finish_unexecuted(run, cell)
            return
        # The engine gets the cell first; ExecutionStarted and the clear are committed while
        # the kernel (another process) already works, so their cost is off the critical path.
        # The sink holds whatever the engine reports until then, so the log order is unchanged.
        held: list[tuple[str, dict[str, Any]]] = []
        sink = EventSink(
            lambda name, args: held.append((name, args)),
            cell_id=run.cell_id,
            execution_count=run.execution_count,
            cleared_by=self.cleared_by,
        )
        t0 = time.perf_counter()
        run.engine_running = True
        try:
            task = asyncio.ensure_future(self.engine.execute(cell.source, sink))
            try:
                await asyncio.sleep(0)  # the engine's first step sends the cell
            except asyncio.CancelledError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
            finally:
                self._announce(run)
                sink.retarget(self._commit)
                for name, args in held:
                    self._commit(name, args)
            outcome = await task
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

    def _announce(self, run: _Run) -> None:
        """(The claim,) ExecutionStarted, then the clear of old outputs (runt-schema §3.3)."""
        if run.claim:
            run.claim = False
            self._commit_claim(run.queue_id)
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

    def _finish_unexecuted(self, run: _Run, cell: Cell | None) -> None:
        """A row that reaches no engine: missing cell, cancelled early, or not code."""
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
        elif run.cancel_requested:
            sink.close()
            self._complete(run, "cancelled", 0.0, "cancelled before it started")
        elif cell.cell_type in ("markdown", "raw"):  # nothing to execute
            sink.close()
            self._complete(run, "success", 0.0)
        else:  # capabilities say: no sql, no ai
            sink.error(
                "UnsupportedCellType", f"this runtime cannot execute {cell.cell_type} cells", []
            )
            sink.close()
            self._complete(run, "error", 0.0, f"unsupported cell type {cell.cell_type}")

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
        self.store.push_now()  # the runner waits for exactly this: no extra loop step


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _swallow(fut: asyncio.Future[Any]) -> None:
    """Commit futures fail when the store closes; the agent does not wait on most of them."""
    if not fut.cancelled():
        exc = fut.exception()
        if exc is not None:
            log.debug("commit failed: %s", exc)
