"""Drive one notebook run through a Store: prefill, request, wait, decide.

Only events and reactive waits: the runner never talks to an agent. Executions are requested
one at a time (request-next), so stop-on-error is exact: a later cell is only ever requested
after every earlier one reached a terminal state, which no race can undo. The prefill (title,
cells, sources) is written at once, so the live notebook shows the whole structure before the
first cell runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from runt_action.agents.executors.ai import AI_USAGE_MIME
from runt_action.agents.executors.ai_tools import assistant_id
from runt_action.errors import RuntimeStartTimeout
from runt_action.notebook.conditions import CellFacts, Condition, compile_condition
from runt_action.orchestrator.outputs import (
    _field,
    clean_exit_of,
    notice_of,
    output_from_event,
    outputs_from_state,
)
from runt_action.results import (
    NO_CAPABLE_RUNTIME,
    CellOutput,
    CellResult,
    CellStatus,
    LiveHooks,
)

if TYPE_CHECKING:
    from runt_action.livestore.store import Store
    from runt_action.notebook.graph import DependencyGraph
    from runt_action.schema.events import NotebookMetadataSet, RuntEvent
    from runt_action.schema.state import NotebookState

__all__ = ["ACTOR", "ON_ERROR_MODES", "OnError", "PlannedCell", "Runner", "plan_cells"]

ACTOR = "automation-client"  # the runt UI shows this id as "Notebook Runner"
_EXECUTABLE = ("code", "sql", "ai")
AI_ASSISTANT = assistant_id("")  # createdBy / requestedBy prefix of what an AI cell's model did
_TERMINAL = ("completed", "failed", "cancelled")
_FAILED = (CellStatus.FAILED, CellStatus.TIMEOUT, CellStatus.CANCELLED)
_INTERRUPTED = (CellStatus.CANCELLED, CellStatus.TIMEOUT)
# Output events that (re)write every display with their displayId, in any cell.
_DISPLAY_UPDATED = "v1.MultimediaDisplayOutputUpdated"  # carries no cellId
_DISPLAY_EVENTS = (_DISPLAY_UPDATED, "v1.MultimediaDisplayOutputAdded")

# What a failed cell means for the cells after it (README "On error").
OnError = Literal["stop", "skip-dependents", "continue"]
ON_ERROR_MODES: tuple[OnError, ...] = ("stop", "skip-dependents", "continue")


@dataclass(frozen=True, slots=True)
class _Ended:
    """How an execution ended: the row's terminal status (or "lost"), as reported."""

    status: str
    duration_ms: float | None
    completed_at: str | None


@dataclass(slots=True)
class PlannedCell:
    id: str
    cell_type: str
    source: str
    line: int | None = None
    source_line: int | None = None  # YAML line of the source's first line (literal blocks)
    timeout: float | None = None  # None = the run's default cell timeout
    retries: int = 0
    allow_error: bool = False
    condition: Condition | None = None
    result: bool = False  # shown in a sweep's comparison table
    skip_reason: str | None = None  # never executed, whatever happens (e.g. skip-execution)
    connection: str | None = None  # SQL cells: metadata.connections name (None = DuckDB)
    variable: str | None = None  # SQL cells: the kernel variable the result lands in
    dataframe: str | None = None  # SQL cells: pandas | polars | rows (None = pandas if any)
    ai_model: str | None = None  # AI cells: the model it names (None = the run's ai-model)
    ai_settings: dict[str, Any] | None = None  # AI cells: AiSettingsChanged.settings


def plan_cells(notebook: Any, parameters_source: str | None) -> list[PlannedCell]:
    """The cells to create, in order: the injected parameters cell first (if any), or right
    after the cell ``notebook.parameters_after`` names (papermill's `parameters` tag)."""
    planned: list[PlannedCell] = []
    after = getattr(notebook, "parameters_after", None)
    injected = PlannedCell(id="parameters", cell_type="code", source=parameters_source or "")
    if parameters_source is not None and after is None:
        planned.append(injected)
    file = getattr(notebook, "path", None)
    for cell in notebook.cells:
        expr = getattr(cell, "if_", None)
        line = getattr(cell, "line", None)
        planned.append(
            PlannedCell(
                id=str(cell.id),
                cell_type=str(getattr(cell, "celltype", "code") or "code"),
                source=str(cell.source or ""),
                line=line,
                source_line=getattr(cell, "source_line", None) or None,
                timeout=getattr(cell, "timeout", None),
                retries=int(getattr(cell, "retries", 0) or 0),
                allow_error=bool(getattr(cell, "allow_error", False)),
                result=bool(getattr(cell, "result", False)),
                condition=compile_condition(
                    expr,
                    earlier_cells=[p.id for p in planned],
                    file=file,
                    line=int(line or 0),
                )
                if expr
                else None,
                skip_reason="tagged skip-execution" if getattr(cell, "skip", False) else None,
                connection=getattr(cell, "connection", None),
                variable=getattr(cell, "variable", None),
                dataframe=getattr(cell, "dataframe", None),
                ai_model=getattr(cell, "model", None),
                ai_settings=getattr(cell, "ai_settings", None),
            )
        )
        if parameters_source is not None and after is not None and cell.id == after:
            planned.append(injected)
    return planned


def _sql_options(cell: PlannedCell) -> dict[str, str] | None:
    if cell.cell_type != "sql":
        return None
    options = {"connection": cell.connection, "variable": cell.variable}
    options["dataframe"] = cell.dataframe
    return {k: v for k, v in options.items() if v}


def sql_cell_events(cell: PlannedCell) -> list[RuntEvent]:
    """What makes runt's app show a SQL cell as one: its connection and result variable."""
    from runt_action.schema import events as ev

    return [
        ev.SqlConnectionChanged(cellId=cell.id, connectionId=cell.connection, changedBy=ACTOR),
        ev.SqlResultVariableChanged(cellId=cell.id, resultVariable=cell.variable, changedBy=ACTOR),
    ]


def sql_connections_event(connections: Mapping[str, Mapping[str, str]]) -> RuntEvent:
    """The notebook's SQL connections, where every agent (in-process or not) reads them."""
    from runt_action.schema import events as ev

    value = json.dumps({k: dict(v) for k, v in connections.items()}, sort_keys=True)
    return ev.NotebookMetadataSet(key=ev.SQL_CONNECTIONS_KEY, value=value)


def sql_dataframes_event(cells: Sequence[PlannedCell]) -> NotebookMetadataSet:
    """What each SQL cell's result becomes (its ``dataframe``), where every agent reads it
    (upstream's cells have no such field); ``"{}"`` when no cell says."""
    from runt_action.schema import events as ev

    frames = {c.id: c.dataframe for c in cells if c.cell_type == "sql" and c.dataframe}
    return ev.NotebookMetadataSet(
        key=ev.SQL_DATAFRAMES_KEY, value=json.dumps(frames, sort_keys=True)
    )


def ai_settings_event(cell: PlannedCell, default_model: str | None) -> RuntEvent:
    """An AI cell's model and settings, as upstream's app writes them (v1.AiSettingsChanged);
    the agent reads them from the cell."""
    from runt_action.schema import events as ev

    return ev.AiSettingsChanged(
        cellId=cell.id,
        provider="openai",
        model=cell.ai_model or default_model or "",
        settings=ev.AiSettings.model_validate(cell.ai_settings or {}),
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


@dataclass(slots=True)
class Runner:
    """One run's state machine; ``results`` is always complete, even when interrupted."""

    store: Store[NotebookState]
    cells: Sequence[PlannedCell]
    title: str
    cell_timeout: float | None = 600.0
    startup_timeout: float | None = 60.0
    request_timeout: float | None = 10.0
    on_error: OnError = "stop"
    graph: DependencyGraph | None = None  # needed by on_error="skip-dependents"
    selected: frozenset[str] | None = None  # --only: these cells run, the rest are skipped
    unselected_reason: str = "not selected by --only"
    execution_count: int = 0  # the last execution count used (watch rounds continue it)
    strict: bool = False  # a sql/ai cell nothing can execute, or output dropped/cut, fails
    # metadata.connections as the agents read it (url or url_env's name: never a secret).
    sql_connections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    ai_model: str | None = None  # AI cells that name no model: the run's ai-model
    hooks: LiveHooks | None = None
    backoff: Callable[[int], float] = field(default=lambda n: min(10.0, 0.5 * 2 ** (n - 1)))
    results: list[CellResult] = field(init=False)
    timings: dict[str, float] = field(init=False, default_factory=dict)
    _running: tuple[str, str] | None = field(init=False, default=None)  # (queue id, cell id)
    _broken: dict[str, str] = field(init=False, default_factory=dict)  # cell -> failed root
    # Why every later cell is skipped: the notebook ended cleanly (sys.exit(0) in a cell).
    _ended: str | None = field(init=False, default=None)
    # displayIds written since the last refresh: earlier cells showing one get new outputs.
    _displays: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.results = [
            CellResult(
                id=c.id,
                cell_type=c.cell_type,
                source=c.source,
                status=CellStatus.SKIPPED,
                line=c.line,
                source_line=c.source_line,
                reason="not reached",
                sql=_sql_options(c),
            )
            for c in self.cells
        ]

    # -- phases ---------------------------------------------------------------------------

    async def prefill(self) -> None:
        """The whole structure at once: presence, title, every cell and its source.

        Raises SyncTimeout (exit 3) when the server does not confirm it in time."""
        from runt_action.schema import events as ev
        from runt_action.schema.fractional import key_between

        t0 = time.monotonic()
        commit = self.store.commit
        commit(*ev.PresenceSet(userId=ACTOR).wire())
        if self.title:
            commit(*ev.NotebookTitleChanged(title=self.title).wire())
        prev: str | None = None
        for cell in self.cells:
            key = key_between(prev, None)
            prev = key
            commit(
                *ev.CellCreated2(
                    id=cell.id, fractionalIndex=key, cellType=cell.cell_type, createdBy=ACTOR
                ).wire()
            )
            commit(*ev.CellSourceChanged(id=cell.id, source=cell.source, modifiedBy=ACTOR).wire())
            if cell.cell_type == "sql":
                for event in sql_cell_events(cell):
                    commit(*event.wire())
            if cell.cell_type == "ai" and cell.ai_settings is not None:
                commit(*ai_settings_event(cell, self.ai_model).wire())
        if self.sql_connections:
            commit(*sql_connections_event(self.sql_connections).wire())
        frames = sql_dataframes_event(self.cells)
        if frames.value != "{}":
            commit(*frames.wire())
        await self.store.flush(timeout=self.request_timeout)
        self.timings["prefill"] = (time.monotonic() - t0) * 1000

    async def wait_for_runtime(self) -> Any:
        """A live runtime session, reactively; RuntimeStartTimeout after the startup timeout."""
        if not any(c.cell_type in _EXECUTABLE for c in self.cells):
            return None
        t0 = time.monotonic()
        try:
            session = await self.store.wait_for(_live_session, timeout=self.startup_timeout)
        except TimeoutError:
            raise RuntimeStartTimeout(
                f"no runtime session became ready within {_secs(self.startup_timeout)}"
            ) from None
        self.timings["runtime_wait"] = (time.monotonic() - t0) * 1000
        return session

    def runtime_live(self) -> bool:
        """A runtime session is live now (what :meth:`wait_for_runtime` waits for)."""
        return _live_session(self.store.state) is not None

    async def execute(self) -> None:
        """Run every cell in order, honouring `if:`, stop-on-error and capabilities; return
        once the server has confirmed every event (else raise SyncTimeout).

        After a failure, ``on_error`` decides (stop: skip the rest; skip-dependents: skip the
        cells that depend on a failed one; continue: run on). It wins over `if:` unless the
        condition uses failure() or always(): `if: cells.a.status == "failed"` after a
        failure is still skipped under ``stop``. A cell that calls ``sys.exit(0)`` succeeds
        and ends the notebook, as papermill does: every later cell is skipped, with the reason.
        """
        t0 = time.monotonic()
        with self.store.subscribe(self._watch_displays):
            try:
                await self._execute_cells()
            finally:
                self._adopt_created()
        # A cell may have been concluded from its agent's unconfirmed completion: the run is
        # over only once the server has every event (SyncTimeout, exit 3, if it never does).
        await self.store.flush(timeout=self.request_timeout)
        self.timings["cells"] = (time.monotonic() - t0) * 1000

    async def _execute_cells(self) -> None:
        facts: dict[str, CellFacts] = {}
        failed = False
        restarted_after: str | None = None
        total = len(self.cells)
        self._ended = None
        for index, (cell, res) in enumerate(zip(self.cells, self.results, strict=True)):
            res.reason = None
            why = self._skip_reason(cell, facts, failed)
            if cell.cell_type not in _EXECUTABLE:
                res.status = CellStatus.NOT_EXECUTED  # created, never executed, whatever happened
            elif why is not None:
                res.status, res.reason = CellStatus.SKIPPED, why
            elif cell.cell_type != "code" and not _capable(self.store.state, cell.cell_type):
                # Never silent: a warning annotation at the cell's line, or with --strict a
                # failure of the run.
                res.reason = f"{NO_CAPABLE_RUNTIME} {cell.cell_type} cells"
                if self.strict:
                    res.status, res.reason = CellStatus.FAILED, res.reason + " (--strict)"
                else:
                    res.status = CellStatus.SKIPPED
            else:
                if restarted_after is not None:
                    res.notes.append(
                        f"ran on a fresh runtime: it was restarted after cell {restarted_after!r}"
                        ", so state defined before that is gone"
                    )
                if self.hooks is not None:
                    self.hooks.on_cell_start(res, index, total)
                try:
                    await self._run_cell(cell, res)
                finally:
                    if self.hooks is not None:
                        self.hooks.on_cell_end(res)
                if _restarted(res.outputs):
                    restarted_after = cell.id
            if self.hooks is not None and res.status in (
                CellStatus.SKIPPED,
                CellStatus.NOT_EXECUTED,
            ):
                self.hooks.on_cell_end(res)  # one result line for cells that never started
            facts[cell.id] = CellFacts(
                status=str(res.status), attempts=res.attempts, duration_ms=res.duration_ms
            )
            if res.status in _FAILED:
                failed = True
                self._broken[cell.id] = cell.id

    def _adopt_created(self) -> None:
        """Cells an AI cell's model created (requestedBy ai-assistant-<session>) join the
        results right after the cells they follow, with what their executions left."""
        state = self.store.state
        known = {res.id for res in self.results}
        after: dict[str, list[CellResult]] = {}
        last: str | None = None
        for cell in state.ordered_cells():
            if cell.id in known:
                last = cell.id
            elif last is not None and cell.created_by.startswith(AI_ASSISTANT):
                after.setdefault(last, []).append(_created_result(state, cell))
        if not after:
            return
        merged: list[CellResult] = []
        for res in self.results:
            merged.append(res)
            merged.extend(after.get(res.id, ()))
        self.results[:] = merged

    def _skip_reason(
        self, cell: PlannedCell, facts: Mapping[str, CellFacts], failed: bool
    ) -> str | None:
        """Why ``cell`` must not run now, or None to run it."""
        if cell.skip_reason is not None:
            return cell.skip_reason
        if self._ended is not None:  # papermill runs nothing after sys.exit(0), not even always()
            return self._ended
        if self.selected is not None and cell.id not in self.selected:
            return self.unselected_reason
        cond = cell.condition
        overrides = cond is not None and cond.overrides_stop
        if failed and not overrides:
            if self.on_error == "stop":
                return "an earlier cell failed"
            if self.on_error == "skip-dependents":
                root = self._broken_dependency(cell.id)
                if root is not None:
                    self._broken[cell.id] = root
                    return f"depends on {root}"
        if cond is not None and not cond.evaluate(facts, failed=failed):
            return f"`if: {cond.source}` was false"
        return None

    def _broken_dependency(self, cell_id: str) -> str | None:
        """The failed cell that ``cell_id`` depends on (through any chain), if any."""
        if self.graph is None:  # nothing known: every later cell might depend on it
            return next(iter(self._broken.values()), None)
        for dep in sorted(self.graph.dependencies(cell_id), key=self.graph.order.index):
            if dep in self._broken:
                return self._broken[dep]
        return None

    def mark_unfinished(self, status: CellStatus, reason: str) -> None:
        """After an interruption: the running cell gets ``status``, unreached ones a reason.

        The running cell keeps what it printed before (the state's outputs, as far as the
        server confirmed them); one that was interrupted (a signal, the notebook timeout) ends
        with an error output, as papermill leaves a cell stopped by Ctrl-C: the runtime's
        KeyboardInterrupt when it arrived, else one saying why."""
        for res in self.results:
            if res.reason == "not reached" and res.status == CellStatus.SKIPPED:
                res.reason = reason
        if self._running is not None:
            _, cell_id = self._running
            for res in self.results:
                if res.id == cell_id:
                    res.status, res.reason = status, reason
                    self._keep_partial(res, reason, interrupted=status in _INTERRUPTED)

    def _keep_partial(self, res: CellResult, reason: str, *, interrupted: bool) -> None:
        started = False
        with contextlib.suppress(Exception):  # the state is only read; never fail the report
            state = self.store.state
            res.outputs = outputs_from_state(state, res.id)
            row = state.queue.get(res.queue_id or "")
            started = row is not None and row.started_at is not None
        errors = any(o.output_type == "error" for o in res.outputs)
        if interrupted and (started or res.outputs) and not errors:
            res.outputs.append(
                CellOutput(
                    output_type="error",
                    ename="KeyboardInterrupt",
                    evalue=reason,
                    traceback=[f"KeyboardInterrupt: {reason}"],
                )
            )
        if res.started_at is not None and not res.duration_ms:
            with contextlib.suppress(ValueError):
                began = datetime.fromisoformat(res.started_at.replace("Z", "+00:00"))
                res.duration_ms = max(0.0, (datetime.now(UTC) - began).total_seconds() * 1000)

    def cancel_running(self, reason: str) -> asyncio.Future[Any] | None:
        """Commit ExecutionCancelled for the execution in flight (the runtime interrupts it)."""
        if self._running is None:
            return None
        from runt_action.schema.events import ExecutionCancelled

        queue_id, cell_id = self._running
        fut: asyncio.Future[Any] = self.store.commit(
            *ExecutionCancelled(
                queueId=queue_id, cellId=cell_id, cancelledBy=ACTOR, reason=reason
            ).wire()
        )
        return fut

    # -- one cell -------------------------------------------------------------------------

    async def _run_cell(self, cell: PlannedCell, res: CellResult) -> None:
        """Attempts until success; retries come first, then `allow_error` judges the last."""
        from runt_action.schema.events import ExecutionRequested
        from runt_action.schema.ids import new_queue_id

        if cell.cell_type == "code" and not cell.source.strip():
            # As Jupyter (nbclient) does: an empty code cell is not sent to the kernel and
            # gets no execution count (null in the .ipynb); it succeeds.
            res.status = CellStatus.SUCCESS
            return
        timeout = cell.timeout if cell.timeout is not None else self.cell_timeout
        attempts = cell.retries + 1
        for attempt in range(1, attempts + 1):
            res.attempts = attempt
            self.execution_count += 1
            queue_id = new_queue_id(cell.id)
            res.queue_id = queue_id
            res.execution_count = self.execution_count
            self._running = (queue_id, cell.id)
            t0 = time.monotonic()
            res.started_at = _now_iso()
            with self.store.subscribe(self._echo(cell.id)):
                self.store.commit(
                    *ExecutionRequested(
                        queueId=queue_id,
                        cellId=cell.id,
                        executionCount=self.execution_count,
                        requestedBy=ACTOR,
                    ).wire()
                )
                self.store.push_now()  # the agent waits for exactly this: no extra loop step
                status, reason, outputs, ended = await self._wait_terminal(
                    queue_id, cell.id, timeout
                )
            self._running = None
            if status == CellStatus.TIMEOUT:  # the cancel may have brought outputs since
                outputs = outputs_from_state(self.store.state, cell.id)
            row = self.store.state.queue.get(queue_id)
            duration = ended.duration_ms if ended is not None else None
            res.duration_ms = float(duration or (time.monotonic() - t0) * 1000)
            if row is not None:
                res.started_at = _iso(row.started_at) or res.started_at
            res.completed_at = (ended.completed_at if ended is not None else None) or _now_iso()
            res.outputs = outputs
            res.status, res.reason = status, reason
            for output in outputs:  # placeholders, truncations, restarts: never silent
                found = notice_of(output)
                if found is not None and found[1] not in res.notes:
                    res.notes.append(found[1])
                lost = found is not None and found[0] in ("dropped", "truncated")
                if lost and found is not None and self.strict and status == CellStatus.SUCCESS:
                    status, reason = CellStatus.FAILED, f"{found[1]} (--strict)"  # a failed check
                    res.status, res.reason = status, reason
            self._refresh_displays(cell.id)
            if cell.cell_type == "ai":
                res.ai = ai_record(outputs)
            if status == CellStatus.SUCCESS:
                exit_output = clean_exit_of(outputs)
                if exit_output is not None:
                    call = f"sys.exit({(exit_output.evalue or '').strip()})"
                    self._ended = f"the notebook called {call} in cell {cell.id}"
                    res.notes.append(f"{call} ended the notebook here; later cells were not run")
                return
            if attempt < attempts:
                await asyncio.sleep(self.backoff(attempt))
        if res.status == CellStatus.FAILED and cell.allow_error:
            res.status = CellStatus.ALLOWED_ERROR

    async def _wait_terminal(
        self, queue_id: str, cell_id: str, limit: float | None
    ) -> tuple[CellStatus, str | None, list[CellOutput], _Ended | None]:
        """The cell's verdict, outputs and end, read once the row reached a terminal state.

        That is the confirmed state, or the ExecutionCompleted an agent sharing our Store
        commits (the in-process runtime), once nothing else of the cell is unconfirmed: its
        outputs are then final in the confirmed state, and the row ends as that event says
        (a completion is applied unconditionally). Measured: 0.3-0.4 ms less per cell.
        """
        from runt_action.schema.events import ExecutionCompleted

        def terminal(state: NotebookState) -> _Ended | None:
            # Checked after every applied event: plain attribute reads, no scans.
            row = state.queue.get(queue_id)
            if row is None:
                return None
            status = row.status
            if status in _TERMINAL:
                return _Ended(status, row.execution_duration_ms, _iso(row.completed_at))
            if status == "executing" and row.assigned_runtime_session:
                sess = state.sessions.get(row.assigned_runtime_session)
                if sess is not None and not sess.is_active:
                    return _Ended("lost", None, None)
            return None

        def reported(name: str, args: Any) -> _Ended | None:
            if name != ExecutionCompleted.NAME or not isinstance(args, dict):
                return None
            if args.get("queueId") != queue_id:
                return None
            for other, more in self.store.pending():
                if other == _DISPLAY_UPDATED:  # it may rewrite an earlier cell's display
                    return None
                if (
                    isinstance(more, dict)
                    and more.get("cellId") == cell_id
                    and (other != name or more.get("queueId") != queue_id)
                ):
                    return None  # an output of the cell is unconfirmed: wait for the server
            done = ExecutionCompleted.model_validate(args)
            status = "completed" if done.status == "success" else "failed"
            return _Ended(status, done.executionDurationMs, _iso(done.completedAt))

        try:
            ended = await self.store.wait_for(terminal, timeout=limit, committed=reported)
        except TimeoutError:
            await self._cancel_after_timeout(queue_id, cell_id, limit)
            return CellStatus.TIMEOUT, f"exceeded the {_secs(limit)} cell timeout", [], None
        status = ended.status
        outputs = outputs_from_state(self.store.state, cell_id)
        return (*_verdict(status, outputs), outputs, ended)

    async def _cancel_after_timeout(self, queue_id: str, cell_id: str, limit: float | None) -> None:
        """Cancel so the runtime interrupts; then wait (bounded) until it has let go."""
        from runt_action.schema.events import ExecutionCancelled

        self.store.commit(
            *ExecutionCancelled(
                queueId=queue_id,
                cellId=cell_id,
                cancelledBy=ACTOR,
                reason=f"exceeded the {_secs(limit)} cell timeout",
            ).wire()
        )

        def released(state: NotebookState) -> bool:
            row = state.queue.get(queue_id)
            if row is None:
                return True
            status = _field(row, "status")
            if status == "cancelled":
                # The runtime confirms the interrupt with ExecutionCompleted (-> failed);
                # a row that never started has nothing to interrupt.
                return _field(row, "started_at") is None
            return status in ("completed", "failed")

        with contextlib.suppress(TimeoutError):
            await self.store.wait_for(released, timeout=self.request_timeout)

    def _watch_displays(self, state: Any, events: Sequence[Any]) -> None:
        """Note every displayId an output event (re)writes, for :meth:`_refresh_displays`."""
        for event in events:
            if event.name in _DISPLAY_EVENTS and isinstance(event.args, dict):
                display_id = event.args.get("displayId")
                if display_id:
                    self._displays.add(str(display_id))

    def _refresh_displays(self, cell_id: str) -> None:
        """``h.update(...)`` (or a display with the same id) in this cell rewrote an earlier
        cell's output in the state, as in Jupyter: that cell's result shows it too."""
        ids, self._displays = self._displays, set()
        if not ids:
            return
        state = self.store.state
        rows = getattr(state, "outputs", {}).values()
        touched = {
            str(_field(row, "cell_id"))
            for row in rows
            if _field(row, "display_id") in ids and _field(row, "cell_id") != cell_id
        }
        for res in self.results:
            if res.id in touched and res.attempts:
                res.outputs = outputs_from_state(state, res.id)

    def _echo(self, cell_id: str) -> Callable[[Any, Sequence[Any]], None]:
        hooks = self.hooks

        def on_events(state: Any, events: Sequence[Any]) -> None:
            if hooks is None:
                return
            for event in events:
                found = output_from_event(event.name, event.args, state)
                if found is not None and found[0] == cell_id:
                    hooks.on_output(cell_id, found[1])

        return on_events


def ai_record(outputs: Sequence[CellOutput]) -> dict[str, Any] | None:
    """The model, response ids, token usage and latency an AI cell reported (its last
    ``application/vnd.runt.ai+json`` output), for the .ipynb and the reports."""
    for output in reversed(outputs):
        value = output.data.get(AI_USAGE_MIME)
        if isinstance(value, dict):
            return dict(value)
    return None


def _created_result(state: NotebookState, cell: Any) -> CellResult:
    rows = [r for r in state.queue.values() if r.cell_id == cell.id]
    row = rows[-1] if rows else None
    res = CellResult(
        id=cell.id,
        cell_type=cell.cell_type,
        source=cell.source,
        status=CellStatus.NOT_EXECUTED,
        created_by=cell.created_by,
    )
    if row is not None:
        res.status = CellStatus.SUCCESS if row.status == "completed" else CellStatus.FAILED
        res.attempts, res.queue_id = 1, row.id
        res.execution_count = row.execution_count
        res.duration_ms = float(row.execution_duration_ms or 0.0)
        res.started_at, res.completed_at = _iso(row.started_at), _iso(row.completed_at)
        res.outputs = outputs_from_state(state, cell.id)
        if res.status == CellStatus.FAILED:
            errors = [o for o in res.outputs if o.output_type == "error"]
            res.reason = f"{errors[0].ename}: {errors[0].evalue}" if errors else row.status
    res.notes.append(f"created by an AI cell's model ({cell.created_by})")
    return res


def _verdict(status: str, outputs: Sequence[CellOutput]) -> tuple[CellStatus, str | None]:
    """A terminal row status (or "lost") and the cell's outputs -> our status and why."""
    if status == "lost":
        return CellStatus.FAILED, "the runtime session ended during the execution"
    if status == "cancelled":
        return CellStatus.FAILED, "the execution was cancelled by someone else"
    errors = [o for o in outputs if o.output_type == "error"]
    if errors and clean_exit_of(outputs) is not None:
        # sys.exit(0): a clean end, whatever the runtime said (papermill does not raise it).
        return CellStatus.SUCCESS, None
    if errors:
        return CellStatus.FAILED, f"{errors[0].ename}: {errors[0].evalue}"
    if status == "failed":
        return CellStatus.FAILED, "the runtime reported the execution as failed"
    return CellStatus.SUCCESS, None


def _live_session(state: NotebookState) -> Any:
    finder = getattr(state, "live_session", None)
    if callable(finder):
        return finder(datetime.now(UTC))
    for sess in getattr(state, "sessions", {}).values():
        if _field(sess, "is_active") and _field(sess, "status") in ("ready", "busy"):
            return sess
    return None


def _capable(state: NotebookState, kind: str) -> bool:
    """A live session advertises the capability (sql / ai)."""
    sessions: Mapping[str, Any] = getattr(state, "sessions", {})
    for sess in sessions.values():
        if not _field(sess, "is_active") or _field(sess, "status") not in ("ready", "busy"):
            continue
        if _field(sess, f"can_execute_{kind}"):
            return True
    return False


def _restarted(outputs: Sequence[CellOutput]) -> bool:
    """The agent restarted the runtime during this cell (it ignored the interrupt)."""
    return any((notice_of(o) or ("", ""))[0] == "restarted" for o in outputs)


def _secs(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"
