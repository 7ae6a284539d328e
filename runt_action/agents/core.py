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
its ``ExecutionAssigned`` needs no confirmation first. On the orchestrator's own Store (the
in-process agent) a request starts even before it is confirmed (``_on_local``), unless an
unconfirmed event redefines the cell. The engine gets the cell before the
claim, ``ExecutionStarted`` and the clear are committed, so they cost nothing on the critical
path; outputs are held until then, so the log order is the canonical one. With other sessions
present ``ExecutionAssigned`` is last-writer-wins, so the agent waits for its claim to be
confirmed before executing, as the JS agent does.

Nothing is lost silently: the sink fits every output into one sync event (or replaces it by a
visible notice, schema/notices.py), and an event the store still refuses is logged as a
warning and replaced by a "dropped" notice in its cell. A cell that ignores its interrupt for
``interrupt_grace`` seconds gets the engine killed and restarted (same session, same actor):
it completes as "cancelled" with a "restarted" notice, and later cells run on the fresh engine.

An execution may run another cell inside itself (``Execution.run_cell``: an AI cell running
a cell its model created): that cell gets a queue row of its own, requested and claimed by
this agent at once and run through the same lifecycle while the outer execution waits; a
cancel of the outer row cancels the inner one too. A request queued behind the running
execution would never start: the agent runs one execution at a time.

Secrets are masked at the source: with ``secrets``, every output an execution produces (its
text, MIME bundles and their nested JSON, markdown, errors, updates and appends) and the
completion's error text are masked, in every escaped spelling the :class:`Scrubber` knows,
before the event is committed, so no sync server, event log or viewer ever receives them.
One choke point (:meth:`RuntimeAgent._commit_wire`); nothing is done when there are none.
A secret printed in pieces is masked whole too: the sink holds back stream text that could
begin a secret (``Scrubber.partial_tail``) until the next write or the end of the cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from runt_action.agents.artifacts import ArtifactUploader
from runt_action.agents.engine import Engine, ExecStatus
from runt_action.agents.executors import (
    CellExecutor,
    CodeExecutor,
    Execution,
    Executors,
    capabilities_of,
)
from runt_action.agents.sink import CELL_OUTPUT_CAP, EventSink, clean_exit
from runt_action.errors import RuntimeDied
from runt_action.livestore.events import Event
from runt_action.livestore.store import Store
from runt_action.masking import Scrubber
from runt_action.schema.events import (
    CELL_DEFINITION_EVENTS,
    ActorProfileSet,
    CellOutputsCleared,
    ExecutionAssigned,
    ExecutionCompleted,
    ExecutionRequested,
    ExecutionStarted,
    ExecutionStatus,
    PresenceSet,
    RuntEvent,
    RuntimeCapabilities,
    RuntimeSessionRenewal,
    RuntimeSessionStarted,
    RuntimeSessionStatusChanged,
    RuntimeSessionTerminated,
    TerminalOutputAdded,
    TerminationReason,
)
from runt_action.schema.ids import new_output_id, new_session_id
from runt_action.schema.notices import DROPPED, RESTARTED, notice_media
from runt_action.schema.state import Cell, NotebookState

__all__ = [
    "DEFAULT_CAPABILITIES",
    "INTERRUPT_GRACE_S",
    "RuntimeAgent",
    "new_session_id",
]

log = logging.getLogger(__name__)

DEFAULT_CAPABILITIES: Mapping[str, bool] = capabilities_of([CodeExecutor()])
_REINTERRUPT_S = 1.0  # an interrupt can land before the kernel armed its handler; repeat it
_STOP_GRACE_S = 2.0  # how long shutdown lets an interrupted cell report before giving up
INTERRUPT_GRACE_S = 5.0  # default: an interrupted cell still running this long gets a restart
_ERROR_TEXT_CAP = 16 * 1024  # chars of ExecutionCompleted.error (the error output has it all)
# Queue events whose names do not start with "v1.Execution" (the others all do).
_QUEUE_EVENTS = frozenset({"v1.MultipleExecutionRequested", "v1.AllExecutionsCancelled"})
# Args of runt events that carry what a cell produced: an output's media (``content``, each of
# ``representations``), an append's ``delta``, a completion's ``error``. Ids, positions, MIME
# types and the media's ``type`` stay exact: masking must never change what an event refers to.
_MEDIA_KEYS = ("content",)
_TEXT_KEYS = ("delta", "error")
_MEDIA_VALUES = ("data", "metadata")


def _now() -> datetime:
    return datetime.now(UTC)


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
        self.engine_done = asyncio.Event()  # the engine is no longer running this cell
        self.restart: asyncio.Future[None] | None = None  # the engine restart it caused
        self.completed = False  # ExecutionCompleted was committed (exactly once)
        self.task: asyncio.Task[None] | None = None
        self.executor: CellExecutor | None = None  # set once the cell reaches its executor
        self.execution: Execution | None = None
        self.parent: _Run | None = None  # the execution this one runs inside (run_cell)
        self.status: ExecutionStatus | None = None  # as completed


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
        interrupt_grace: float | None = INTERRUPT_GRACE_S,
        output_cap: int = CELL_OUTPUT_CAP,
        secrets: Sequence[str] = (),
        executors: Sequence[CellExecutor] | None = None,
        artifacts: ArtifactUploader | None = None,
    ) -> None:
        """``executors``: one per cell kind (agents/executors); code cells only by default,
        and the session announces the capabilities of exactly these unless ``capabilities``
        says otherwise; ``interrupt_grace``: seconds an interrupted cell may keep running
        before the engine is killed and restarted (the orchestrator passes
        ``Timeouts.interrupt``; None: never);
        ``output_cap``: bytes of output kept per execution (sink.CELL_OUTPUT_CAP);
        ``secrets``: values masked (as ``***``) in every output before it is committed."""
        self.store = store
        self.engine = engine
        self.runtime_id = runtime_id
        self.runtime_type = runtime_type or engine.runtime_type
        self.executors = Executors(executors if executors is not None else (CodeExecutor(),))
        self.capabilities = dict(capabilities or capabilities_of(self.executors))
        # The runt UI shows a bot icon for presence ids containing "runtime" or "python".
        self.actor_id = actor_id or f"runtime-{runtime_id}"
        self.display_name = display_name or f"runt automate ({self.runtime_type})"
        self.session_id = session_id or new_session_id(self.runtime_type, runtime_id)
        self.renew_interval = renew_interval
        self.valid_for_ms = valid_for_ms
        self.interrupt_grace = interrupt_grace
        self.output_cap = output_cap
        scrubber = Scrubber(secrets)
        self._mask: Scrubber | None = scrubber if scrubber else None
        # Large representations go to the artifact API (agents/artifacts.py); None: dropped.
        self.artifacts = artifacts
        self.cleared_by = self.actor_id  # one identity in presence, as upstream agents
        self.restarts = 0  # engine restarts after ignored interrupts
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
        reason: TerminationReason | None = "shutdown"
        renew: asyncio.Task[None] | None = None
        try:
            with self.store.subscribe(self._on_change), self.store.on_commit(self._on_local):
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

    def _commit(self, event: RuntEvent) -> asyncio.Future[Any]:
        return self._commit_wire(*event.wire())

    def _commit_wire(self, name: str, args: Any, *, notice: bool = True) -> asyncio.Future[Any]:
        """Every commit of the agent: outputs masked first; an event the store refuses
        outright is replaced by a visible notice (``notice``) and logged."""
        if self._mask is not None and isinstance(args, dict):
            args = _masked(args, self._mask)
        fut: asyncio.Future[Any] = self.store.commit(name, args)
        if fut.done() and not fut.cancelled() and fut.exception() is not None:
            self._refused(name, args, fut.exception(), notice=notice)
        else:
            fut.add_done_callback(_swallow)
        return fut

    def _refused(
        self, name: str, args: Any, exc: BaseException | None, *, notice: bool = True
    ) -> None:
        """The store refused an event outright (it cannot be encoded or sent): say so where
        it would have shown, not only in the log."""
        reason = str(exc) if self._mask is None else self._mask.text(str(exc))
        log.warning("could not commit %s: %s", name, reason)
        cell_id = args.get("cellId") if isinstance(args, dict) else None
        if not (notice and name.endswith("OutputAdded") and isinstance(cell_id, str)):
            return
        position = args.get("position")
        text = f"a {name.removeprefix('v1.')} output was dropped: {reason}"
        dropped = TerminalOutputAdded(
            id=new_output_id(),
            cellId=cell_id,
            position=position if isinstance(position, int | float) else 0,
            content=notice_media(DROPPED, text[:1000]),
            streamName="stderr",
        )
        self._commit_wire(*dropped.wire(), notice=False)

    def _terminate(self, session_id: str, reason: TerminationReason) -> None:
        self._commit(RuntimeSessionTerminated(sessionId=session_id, reason=reason))

    async def _start_session(self) -> None:
        for sess in list(self.store.state.sessions.values()):
            if sess.is_active and sess.session_id != self.session_id:
                self._terminate(sess.session_id, "displaced")
        started = self._commit(
            RuntimeSessionStarted(
                sessionId=self.session_id,
                runtimeId=self.runtime_id,
                runtimeType=self.runtime_type,
                capabilities=RuntimeCapabilities.model_validate(self.capabilities),
            )
        )
        self._commit(
            ActorProfileSet(id=self.actor_id, type="runtime_agent", displayName=self.display_name)
        )
        self._commit(PresenceSet(userId=self.actor_id))
        await self.engine.start()
        await started  # claims require our own session to be visible in the confirmed state
        self._commit(RuntimeSessionStatusChanged(sessionId=self.session_id, status="ready"))
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
                RuntimeSessionRenewal(
                    sessionId=self.session_id, renewedAt=_now(), validForMs=self.valid_for_ms
                )
            )
            await asyncio.sleep(self.renew_interval)

    async def _finish(self, reason: TerminationReason | None) -> None:
        """Terminate the session (unless displaced), stop the engine, flush the store."""
        run = self._current
        if run is not None and run.task is not None and not run.task.done():
            run.cancel_requested = True
            if run.engine_running:
                with contextlib.suppress(Exception):
                    await self._interrupt(run)
            done, _ = await asyncio.wait({run.task}, timeout=_STOP_GRACE_S)
            if not done:
                run.task.cancel()
                with contextlib.suppress(BaseException):
                    await run.task
        if reason is not None:
            self._terminate(self.session_id, reason)
        with contextlib.suppress(Exception):
            await self.executors.close()
        if self.artifacts is not None:
            with contextlib.suppress(Exception):
                await self.artifacts.close()
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
            elif run is not None and name in ("v1.AllExecutionsCancelled", "v1.ExecutionCancelled"):
                self._cancel_chain(run, None if name == "v1.AllExecutionsCancelled" else qid)
        if self._active:
            self._advance(state)

    def _on_local(self, name: str, args: Any) -> None:
        """A request committed on our own Store (the orchestrator in this process): start it
        before the server confirms it, as LiveStore clients sharing a store see each other's
        writes at once. Measured: request -> engine 0.5 -> 0.05 ms, overhead per cell 1.21 ->
        1.01 ms (docs/benchmarks.md, 2026-12-01).

        Only when nothing could make the confirmed log disagree: we are idle and the only
        runtime session, and no unconfirmed event of ours redefines the cell (a pending
        source change must run, so that request waits for confirmation). A cancel committed
        before the request precedes it in the log and cannot touch it; one committed after
        arrives confirmed and interrupts the cell as on the confirmed path. The
        claim, ExecutionStarted and the clear follow the request in our commit order, so the
        log reads exactly as on the confirmed path. Anything else takes the confirmed path.
        """
        if name != ExecutionRequested.NAME or not isinstance(args, dict):
            return
        qid, cell_id, count = args.get("queueId"), args.get("cellId"), args.get("executionCount")
        if not (isinstance(qid, str) and isinstance(cell_id, str)) or qid in self._claimed:
            return
        if not self._active or self._current is not None or self._mine or self._requested:
            return
        state = self.store.state
        if cell_id not in state.cells or self._should_end(state) or not self._alone(state):
            return
        for pending_name, pending_args in self.store.pending():
            if (
                pending_name in CELL_DEFINITION_EVENTS
                and isinstance(pending_args, dict)
                and pending_args.get("id") == cell_id
            ):
                return
        self._claimed.add(qid)
        self._unconfirmed.add(qid)
        self._start(qid, cell_id, count if isinstance(count, int) else None, claim=True)

    def _cancel_chain(self, run: _Run, queue_id: str | None) -> None:
        """Cancel the execution ``queue_id`` (None: all) and those running inside it: a cell
        an AI cell runs (``run_cell``) goes with the AI cell."""
        chain: list[_Run] = []
        found: _Run | None = run
        while found is not None:
            chain.append(found)
            if queue_id is None or found.queue_id == queue_id:
                for inner in chain:
                    self._request_cancel(inner)
                chain.clear()
            found = found.parent

    async def _run_nested(
        self, parent: _Run, cell_id: str, requested_by: str, limit: float | None
    ) -> str:
        """Execute ``cell_id`` now, inside ``parent`` (``Execution.run_cell``), as any row:
        requested (by ``requested_by``), claimed, started, cleared, completed; cancelled by
        the same events, and interrupted after ``limit`` seconds. Returns its status."""
        from runt_action.schema.ids import new_queue_id

        cell = self.store.state.cells.get(cell_id)
        count = (cell.execution_count or 0) + 1 if cell is not None else 1
        queue_id = new_queue_id(cell_id)
        self._claimed.add(queue_id)  # ours from the start: the claiming path leaves it alone
        self._done.add(queue_id)
        self._commit(
            ExecutionRequested(
                queueId=queue_id, cellId=cell_id, executionCount=count, requestedBy=requested_by
            )
        )
        child = _Run(queue_id, cell_id, count, claim=True)
        child.parent, child.task = parent, parent.task
        if parent.cancel_requested:
            child.cancel_requested = True
        self._current = child
        timer = (
            asyncio.get_running_loop().call_later(limit, self._request_cancel, child)
            if limit is not None
            else None
        )
        try:
            await self._execute_inner(child)
        finally:
            if timer is not None:
                timer.cancel()
            self._current = parent
        with contextlib.suppress(TimeoutError):
            await self.store.wait_for(_ended(queue_id), timeout=30.0)  # confirmed, outputs too
        return child.status or "error"

    def _request_cancel(self, run: _Run) -> None:
        if run.cancel_requested:
            return
        run.cancel_requested = True
        if run.engine_running:
            asyncio.get_running_loop().create_task(self._interrupt_until_done(run))

    async def _interrupt_until_done(self, run: _Run) -> None:
        """Interrupt (again every second: one can land before the handler is armed); a cell
        still running ``interrupt_grace`` seconds after the first gets the engine restarted."""
        loop = asyncio.get_running_loop()
        grace = self.interrupt_grace
        deadline = loop.time() + (grace if grace is not None else float("inf"))
        while run.engine_running and run is self._current:
            with contextlib.suppress(Exception):
                await self._interrupt(run)
            left = deadline - loop.time()
            if left <= 0:
                log.warning(
                    "cell %s ignored the interrupt for %g s; restarting the runtime",
                    run.cell_id,
                    grace,
                )
                run.restart = asyncio.ensure_future(self.engine.restart())
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.engine_done.wait(), min(_REINTERRUPT_S, left))

    async def _interrupt(self, run: _Run) -> None:
        """The running cell's executor stops it (an engine interrupt for code and SQL)."""
        if run.executor is not None and run.execution is not None:
            await run.executor.interrupt(run.execution)
        else:
            await self.engine.interrupt()

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
        self._commit(ExecutionAssigned(queueId=queue_id, runtimeSessionId=self.session_id))

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
        executor = self.executors.for_cell(cell.cell_type) if cell is not None else None
        if cell is None or run.cancel_requested or executor is None:
            self._announce(run)
            self._finish_unexecuted(run, cell)
            return
        run.executor = executor
        run.execution = Execution(
            cell=cell,
            queue_id=run.queue_id,
            execution_count=run.execution_count,
            engine=self.engine,
            store=self.store,
            commit=self._commit,
            session_id=self.session_id,
            actor_id=self.actor_id,
            mask=self._mask,
            run_cell=functools.partial(self._run_nested, run),
        )
        # The engine gets the cell first; ExecutionStarted and the clear are committed while
        # the kernel (another process) already works, so their cost is off the critical path.
        # The sink holds whatever the engine reports until then, so the log order is unchanged.
        held: list[RuntEvent] = []
        sink = EventSink(
            held.append,
            cell_id=run.cell_id,
            execution_count=run.execution_count,
            cleared_by=self.cleared_by,
            output_cap=self.output_cap,
            holdback=self._mask.partial_tail if self._mask is not None else None,
            uploader=self.artifacts,
            scrubber=self._mask,
        )
        t0 = time.perf_counter()
        run.engine_running = True
        try:
            task = asyncio.ensure_future(executor.execute(run.execution, sink))
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
                for event in held:
                    self._commit(event)
            outcome = await task
        except RuntimeDied as exc:
            run.engine_running = False
            run.engine_done.set()
            if run.restart is None:
                sink.flush()
                sink.error("RuntimeDied", str(exc), [])
                sink.close()
                await sink.drained()
                self._complete(run, "error", _ms(t0), f"RuntimeDied: {exc}")
                raise
            outcome = None  # killed by the restart: reported below
        finally:
            run.engine_running = False
            run.engine_done.set()
        if run.restart is not None or outcome is None:
            await self._restarted(run, sink, t0)
            return
        sink.close()
        await sink.drained()  # outputs still uploading as artifacts go out first
        error = f"{sink.last_error[0]}: {sink.last_error[1]}" if sink.last_error else None
        if outcome.status is ExecStatus.INTERRUPTED:
            self._complete(run, "cancelled", _ms(t0), "interrupted")
        elif (outcome.status is ExecStatus.OK and error is None) or (
            sink.last_error is not None and clean_exit(*sink.last_error)
        ):
            # sys.exit(0) ends the notebook cleanly (papermill): the cell succeeded; its
            # SystemExit output stays, and tells the runner to run nothing after it.
            self._complete(run, "success", _ms(t0))
        else:  # raised (an engine that reports the error but returns OK counts too)
            self._complete(run, "error", _ms(t0), error or str(outcome.extra.get("ename", "error")))

    async def _restarted(self, run: _Run, sink: EventSink, t0: float) -> None:
        """The cell ignored its interrupt and the engine is being restarted: tell it in the
        cell, complete it as cancelled, and wait for the fresh engine before the next row."""
        text = (
            f"the cell ignored the interrupt for {self.interrupt_grace or 0:g} s; the runtime was "
            "restarted — later cells run on a fresh runtime"
        )
        sink.notice(RESTARTED, text)
        sink.close()
        await sink.drained()
        self._complete(run, "cancelled", _ms(t0), text)
        assert run.restart is not None
        try:
            await run.restart
        except Exception as exc:
            raise RuntimeDied(f"the runtime could not be restarted: {exc}") from exc
        self.restarts += 1
        log.info("runtime restarted after %.2f s", time.perf_counter() - t0)

    def _announce(self, run: _Run) -> None:
        """(The claim,) ExecutionStarted, then the clear of old outputs (runt-schema §3.3)."""
        if run.claim:
            run.claim = False
            self._commit_claim(run.queue_id)
        self._commit(
            ExecutionStarted(
                queueId=run.queue_id,
                cellId=run.cell_id,
                runtimeSessionId=self.session_id,
                startedAt=_now(),
            )
        )
        self._commit(CellOutputsCleared(cellId=run.cell_id, wait=False, clearedBy=self.cleared_by))

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
        else:  # no executor for this kind (the capabilities said so)
            sink.error(
                "UnsupportedCellType", f"this runtime cannot execute {cell.cell_type} cells", []
            )
            sink.close()
            self._complete(run, "error", 0.0, f"unsupported cell type {cell.cell_type}")

    def _complete(
        self, run: _Run, status: ExecutionStatus, duration_ms: float, error: str | None = None
    ) -> None:
        if run.completed:
            return
        run.completed = True
        run.status = status
        if error is not None and len(error) > _ERROR_TEXT_CAP:  # the error output has it all
            error = f"{error[:_ERROR_TEXT_CAP]} … ({len(error) - _ERROR_TEXT_CAP} more chars)"
        self._commit(
            ExecutionCompleted(
                queueId=run.queue_id,
                cellId=run.cell_id,
                status=status,
                error=error,
                completedAt=_now(),
                executionDurationMs=round(duration_ms),
            )
        )
        self.store.push_now()  # the runner waits for exactly this: no extra loop step


def _masked(args: dict[str, Any], mask: Scrubber) -> dict[str, Any]:
    """A copy of an event's args with what a cell produced masked (see ``_MEDIA_KEYS``)."""
    out = dict(args)
    for key in _MEDIA_KEYS:
        if key in out:
            out[key] = _masked_media(out[key], mask)
    reps = out.get("representations")
    if isinstance(reps, dict):
        out["representations"] = {mime: _masked_media(m, mask) for mime, m in reps.items()}
    for key in _TEXT_KEYS:
        if key in out:
            out[key] = mask.deep(out[key])
    return out


def _masked_media(media: Any, mask: Scrubber) -> Any:
    if not isinstance(media, dict):
        return mask.deep(media)
    return {k: mask.deep(v) if k in _MEDIA_VALUES else v for k, v in media.items()}


def _ended(queue_id: str) -> Callable[[NotebookState], bool | None]:
    """A wait_for predicate: the row reached a terminal status in the confirmed state."""

    def check(state: NotebookState) -> bool | None:
        row = state.queue.get(queue_id)
        return (
            True if row is not None and row.status in ("completed", "failed", "cancelled") else None
        )

    return check


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _swallow(fut: asyncio.Future[Any]) -> None:
    """Commit futures fail when the store fails or closes; the agent does not wait on most of
    them, and the store's failure ends the agent (``_watch_store``). Still, never silently."""
    if not fut.cancelled():
        exc = fut.exception()
        if exc is not None:
            log.warning("commit failed: %s", exc)
