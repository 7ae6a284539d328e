"""``runt-automate watch NB.yml``: run once, then re-run what each save of the file changed.

The runtime stays up between saves, so unchanged cells keep their state in it. A save re-runs
the cells whose source or options changed, the cells whose dependencies changed, and every
cell that depends on those (the def/use graph of :mod:`runt_action.notebook.graph`). The
live notebook follows the file: sources are updated, new cells created, removed ones deleted.
File changes come from inotify through watchfiles (no polling). Ctrl-C ends it cleanly.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runt_action import eventloop
from runt_action.console import PROG
from runt_action.errors import InputError, OutputWriteError, RuntActionError
from runt_action.orchestrator.agent_host import kill_engine, prestart_engine
from runt_action.orchestrator.plan import RunPlan, make_plan
from runt_action.orchestrator.runner import (
    ACTOR,
    PlannedCell,
    Runner,
    sql_cell_events,
    sql_dataframes_event,
)
from runt_action.orchestrator.session import Session, open_session
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.orchestrator.verdict import VerdictPublisher
from runt_action.report.scrub import Scrubber
from runt_action.results import CellResult, CellStatus, RunStatus

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.livestore.store import Store
    from runt_action.notebook.graph import DependencyGraph
    from runt_action.schema.state import NotebookState
    from runt_action.settings import Settings

__all__ = ["affected_cells", "sync_structure", "watch"]

UNCHANGED = "unchanged since the last run"


def watch(settings: Settings) -> int:
    """Until Ctrl-C (exit 0) or a broken runtime/sync (exit 3)."""
    plan = make_plan(settings)
    path = Path(plan.source_file).resolve()
    engine = prestart_engine(plan.engine)
    try:
        return eventloop.run(_Watch(settings, plan, engine, path).main())
    finally:
        kill_engine(engine)


def _options(cell: PlannedCell) -> tuple[object, ...]:
    cond = cell.condition.source if cell.condition is not None else None
    sql = (cell.connection, cell.variable, cell.dataframe)
    return (cell.cell_type, cell.source, cell.timeout, cell.retries, cell.allow_error, cond, sql)


def affected_cells(
    old: Sequence[PlannedCell],
    new: Sequence[PlannedCell],
    old_graph: DependencyGraph,
    new_graph: DependencyGraph,
) -> set[str]:
    """The cells a save must re-run: changed or new ones, ones whose dependencies changed,
    and everything that depends on those."""
    before = {c.id: c for c in old}
    changed = {c.id for c in new if c.id not in before or _options(c) != _options(before[c.id])}
    rewired = {
        c for c in new_graph.order if new_graph.deps.get(c, set()) != old_graph.deps.get(c, set())
    }
    start = changed | rewired
    runnable = {c.id for c in new if c.cell_type in ("code", "sql", "ai")}
    return (start | new_graph.dependents(start)) & runnable


def sync_structure(store: Store[NotebookState], cells: Sequence[PlannedCell]) -> bool:
    """Make the live notebook's cells match ``cells``: delete, create, move, edit. True when
    the notebook metadata an executor reads (SQL cells' ``dataframe``) changed."""
    from runt_action.schema import events as ev
    from runt_action.schema.fractional import key_between

    state = store.state
    commit = store.commit
    wanted = [c.id for c in cells]
    for cell_id in list(state.cells):
        if cell_id not in wanted:
            commit(*ev.CellDeleted(id=cell_id).wire())
    prev: str | None = None
    for i, cell in enumerate(cells):
        row = state.cells.get(cell.id)
        key = row.fractional_index if row is not None else None
        if key is None or (prev is not None and key <= prev):
            nxt = state.cells.get(cells[i + 1].id) if i + 1 < len(cells) else None
            upper = nxt.fractional_index if nxt is not None else None
            key = key_between(prev, upper if upper is not None and upper > (prev or "") else None)
            if row is None:
                commit(
                    *ev.CellCreated2(
                        id=cell.id, fractionalIndex=key, cellType=cell.cell_type, createdBy=ACTOR
                    ).wire()
                )
            else:
                commit(*ev.CellMoved2(id=cell.id, fractionalIndex=key).wire())
        prev = key
        if row is None or row.source != cell.source:
            commit(*ev.CellSourceChanged(id=cell.id, source=cell.source, modifiedBy=ACTOR).wire())
        if cell.cell_type == "sql" and (
            row is None
            or (row.sql_connection_id, row.sql_result_variable) != (cell.connection, cell.variable)
        ):
            for event in sql_cell_events(cell):
                commit(*event.wire())
    frames = sql_dataframes_event(cells)
    if state.metadata.get(frames.key, "{}") == frames.value:
        return False
    commit(*frames.wire())
    return True


@dataclass(slots=True)
class _Watch:
    settings: Settings
    plan: RunPlan
    engine: Engine | None
    path: Path  # the notebook file, resolved (the directory is watched, not the inode)
    shutdown: Shutdown = field(init=False)
    results: dict[str, CellResult] = field(default_factory=dict)
    located: list[Session] = field(default_factory=list)
    work: asyncio.Task[None] | None = None
    execution_count: int = 0
    verdicts: VerdictPublisher | None = None  # each round's verdict, into the store

    def __post_init__(self) -> None:
        self.shutdown = Shutdown(self.plan.timeouts.shutdown)

    async def main(self) -> int:
        self.shutdown.install(self._cancel)
        self.work = asyncio.create_task(self._loop())
        try:
            await self.work
        except asyncio.CancelledError:
            if not self.shutdown.should_exit:
                raise
            _say("watch ended")
            return 0
        except RuntActionError as exc:
            _say(f"error: {exc}")
            return exc.exit_code
        finally:
            self.shutdown.uninstall()
        return 0

    def _cancel(self) -> None:
        if self.work is not None:
            self.work.cancel()

    async def _loop(self) -> None:
        from watchfiles import awatch

        plan = self.plan
        timings: dict[str, float] = {}
        async with open_session(plan, self.engine, self.shutdown, timings, self.located) as session:
            runner = self._runner(session, plan, None)
            await session.guard(runner.prefill())
            await session.guard(runner.wait_for_runtime())
            await self._round(session, runner, plan)
            path = self.path
            seen = path.read_bytes()
            ready = False
            # yield_on_timeout: the first (empty) yield says the inotify watch is in place, so
            # "watching" is printed only when a save can no longer be missed; a save made
            # before that is caught by comparing the file with what last ran.
            async for changes in awatch(
                path.parent,
                watch_filter=lambda _change, changed: Path(changed) == path,
                debounce=200,
                step=20,
                rust_timeout=500,
                yield_on_timeout=True,
                recursive=False,
            ):
                if not changes:  # a timeout, not a save
                    if ready:
                        continue
                    ready = True
                    _say(f"watching {path} (Ctrl-C to stop)")
                    if path.read_bytes() == seen:
                        continue
                seen = path.read_bytes()
                try:
                    new = make_plan(self.settings)
                except InputError as exc:  # keep the last good version running
                    _say(f"not re-running: {exc}")
                    continue
                selected = affected_cells(plan.cells, new.cells, plan.graph, new.graph)
                metadata_changed = sync_structure(session.store, new.cells)
                runner = self._runner(session, new, frozenset(selected))
                if metadata_changed:  # confirmed first: the in-process agent starts a request
                    # before its confirmation (agents/core.py), reading the metadata it has
                    await session.guard(session.store.flush(timeout=runner.request_timeout))
                await self._round(session, runner, new)
                plan = new

    def _runner(self, session: Session, plan: RunPlan, selected: frozenset[str] | None) -> Runner:
        from runt_action import report

        return plan.runner(
            session.store,
            report.live_log(
                github_actions=False, secrets=list(plan.secrets), log_output=plan.log_output
            ),
            selected=selected,
            unselected_reason=UNCHANGED,
            execution_count=self.execution_count,
        )

    async def _round(self, session: Session, runner: Runner, plan: RunPlan) -> None:
        """One run of the selected cells; unchanged cells keep their last results."""
        t0 = time.monotonic()
        await session.guard(runner.execute())
        self.execution_count = runner.execution_count
        ran = [r.id for r in runner.results if r.reason != UNCHANGED and r.attempts > 0]
        merged: list[CellResult] = []
        for res in runner.results:
            if res.reason == UNCHANGED and res.id in self.results:
                merged.append(self.results[res.id])
            else:
                merged.append(res)
        self.results = {r.id: r for r in merged}
        failed = [r.id for r in merged if r.status in (CellStatus.FAILED, CellStatus.TIMEOUT)]
        if self.verdicts is None:
            secrets = plan.secrets
            self.verdicts = VerdictPublisher(session.store, scrub=Scrubber(secrets).text)
        # The round's verdict, so the live page reads it and not "running" while we wait.
        self.verdicts.publish(merged, RunStatus.FAILED if failed else RunStatus.SUCCESS)
        await self.verdicts.flush(plan.timeouts.request or 10.0)
        took = (time.monotonic() - t0) * 1000
        _say(
            f"re-ran {len(ran)} cell(s): {', '.join(ran) or '-'} in {took:.0f} ms"
            + (f"; failing: {', '.join(failed)}" if failed else "")
        )
        self._write_ipynb(plan, session, merged)

    def _write_ipynb(self, plan: RunPlan, session: Session, cells: list[CellResult]) -> None:
        from runt_action import report

        result = plan.result(
            cells, RunStatus.SUCCESS, notebook_id=session.notebook_id, notebook_url=session.link
        )
        try:
            report.write_documents(
                result, ipynb=plan.ipynb_path, html=plan.html_path, secrets=plan.secrets
            )
        except (OSError, OutputWriteError) as exc:
            _say(f"warning: could not write a report: {exc}")


def _say(message: str) -> None:
    print(f"{PROG} watch: {message}", file=sys.stderr, flush=True)
