"""A parameter sweep: the notebook once per parameter set, K at a time, one embedded server.

Each set is an ordinary run (its own plan, notebook id, runtime, .ipynb); they share the
embedded sync server, which is what lets ``--jobs K`` run K runtimes side by side. The sweep
ends with one summary (a comparison table) and step outputs whose ``results`` is a list per
set; its exit code is the worst of the runs'.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from runt_action import eventloop
from runt_action.console import PREFIX
from runt_action.errors import OutputWriteError
from runt_action.orchestrator.agent_host import kill_engine, prestart_engine
from runt_action.orchestrator.main import RunExecution
from runt_action.orchestrator.plan import RunPlan, make_plan
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.results import CellOutput, CellResult, CellStatus, LiveHooks, RunResult, RunStatus

if TYPE_CHECKING:
    from runt_action.orchestrator.session import EmbeddedServer
    from runt_action.report.sweep import SweepRow
    from runt_action.settings import Settings

__all__ = ["run_sweep"]

_EXIT = {RunStatus.SUCCESS: 0, RunStatus.FAILED: 1, RunStatus.ERROR: 3, RunStatus.CANCELLED: 3}


def run_sweep(settings: Settings, base: RunPlan) -> int:
    """Every input error is raised before anything starts (each set's plan is made first)."""
    from runt_action.notebook.sweep import set_label

    plans = [
        make_plan(settings, base.notebook, overrides=params, label=set_label(i, params))
        for i, params in enumerate(base.sweep, start=1)
    ]
    return eventloop.run(_Sweep(base, plans, max(1, settings.jobs)).main())


class _Quiet:
    """With several sets at once their cell output would interleave: one line per set."""

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None:
        pass

    def on_output(self, cell_id: str, output: CellOutput) -> None:
        pass

    def on_cell_end(self, cell: CellResult) -> None:
        pass


class _Sweep:
    def __init__(self, base: RunPlan, plans: list[RunPlan], jobs: int) -> None:
        self.base = base
        self.plans = plans
        self.jobs = jobs
        self.shutdown = Shutdown(base.timeouts.shutdown)
        self.running: list[RunExecution] = []

    async def main(self) -> int:
        from runt_action.orchestrator.session import embedded_server

        server = await embedded_server(self.base) if self.base.embedded else None
        self.shutdown.install(self._cancel_all)
        try:
            gate = asyncio.Semaphore(self.jobs)
            results = await asyncio.gather(*(self._one(p, gate, server) for p in self.plans))
        finally:
            self.shutdown.uninstall()
            if server is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(server.stop(), self.shutdown.left())
        return self._publish(list(results))

    def _cancel_all(self) -> None:
        for execution in self.running:
            execution.cancel()

    async def _one(
        self, plan: RunPlan, gate: asyncio.Semaphore, server: EmbeddedServer | None
    ) -> RunResult:
        from runt_action import report

        async with gate:
            if self.shutdown.should_exit:
                return _not_run(plan)
            index = self.plans.index(plan) + 1
            live: LiveHooks = _Quiet()
            if self.jobs == 1:
                print(f"── sweep set {index}/{len(self.plans)}: {plan.label}", flush=True)
                live = report.live_log(
                    github_actions=plan.github_actions,
                    secrets=plan.secrets,
                    log_output=plan.log_output,
                )
            engine = prestart_engine(plan.engine)
            execution = RunExecution(plan, engine, self.shutdown, shared_server=server)
            self.running.append(execution)
            try:
                result = await execution.execute(live)
                close = getattr(live, "close", None)
                if callable(close):
                    close()
                await execution.engine_down()
            finally:
                kill_engine(engine)
                self.running.remove(execution)
            print(
                f"sweep set {index}/{len(self.plans)} {plan.label}: {result.status.value}",
                file=sys.stderr,
                flush=True,
            )
            return result

    def _publish(self, results: list[RunResult]) -> int:
        from runt_action import report
        from runt_action.report.outputs import format_outputs
        from runt_action.report.scrub import Scrubber
        from runt_action.report.summary import write_summary
        from runt_action.report.sweep import (
            SweepRow,
            render_sweep_summary,
            render_sweep_text,
            sweep_outputs,
        )

        base = self.base
        scrubber = Scrubber(base.secrets)
        result_cells = [c.id for c in base.cells if c.result]
        rows: list[SweepRow] = []
        code = 0
        for params_set, plan, result in zip(base.sweep, self.plans, results, strict=True):
            try:
                report.write_documents(
                    result, ipynb=plan.ipynb_path, html=plan.html_path, secrets=plan.secrets
                )
            except (OSError, OutputWriteError) as exc:
                print(f"{PREFIX}could not write a report: {exc}", file=sys.stderr)
                code = 3
            params = {k: result.parameters.get(k) for k in params_set}  # secrets masked
            rows.append(SweepRow(plan.label or "", params, result, plan.ipynb_path, result_cells))
            code = max(code, _EXIT[result.status])
        title = base.notebook.title
        try:
            summary = base.summary_path
            text = (
                render_sweep_summary(title, rows, scrubber=scrubber)
                if summary is not None
                else scrubber.text(render_sweep_text(title, rows))
            )
            # The same writer as a single run's summary: appended under Actions, never
            # replacing a device or FIFO, printed when there is no file.
            write_summary(text, summary, append=base.github_actions)
            if base.github_output is not None:
                values = {k: scrubber.text(v) for k, v in sweep_outputs(rows).items()}
                with base.github_output.open("a", encoding="utf-8", newline="") as fh:
                    fh.write(format_outputs(values))
        except OSError as exc:
            print(f"{PREFIX}could not write the sweep summary: {exc}", file=sys.stderr)
            code = 3
        finally:
            report.hand_back(
                [
                    base.out_dir,
                    base.summary_path,
                    *(p.ipynb_path for p in self.plans),
                    *(p.html_path for p in self.plans),
                ],
                base.github_workspace,
            )
        return code


def _not_run(plan: RunPlan) -> RunResult:
    """A set the sweep never started (it was cancelled first)."""
    cells = [
        CellResult(c.id, c.cell_type, c.source, CellStatus.SKIPPED, reason="sweep cancelled")
        for c in plan.cells
    ]
    return plan.result(
        cells, RunStatus.CANCELLED, error="the sweep was cancelled before this set started"
    )
