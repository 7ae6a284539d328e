"""A parameter sweep: the notebook once per parameter set, K at a time, one embedded server.

Each set is an entry of a :class:`~.run.Batch` (its own plan, notebook id, runtime, .ipynb);
they share the embedded sync server, which is what lets ``--jobs K`` run K runtimes side by
side. The sweep ends with one summary (a comparison table) and step outputs whose ``results``
is a list per set; its exit code is the worst of the runs'.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from runt_action import eventloop
from runt_action.batch.run import EXIT, Batch, Entry, stop_server, write_documents
from runt_action.console import PREFIX
from runt_action.orchestrator.plan import RunPlan, make_plan
from runt_action.results import LiveHooks, RunResult

if TYPE_CHECKING:
    from runt_action.report.sweep import SweepRow
    from runt_action.settings import Settings

__all__ = ["run_sweep", "sweep_entries"]


def sweep_entries(settings: Settings, base: RunPlan, name: str, path: str) -> list[Entry]:
    """One entry per parameter set of ``base`` (its plan made now: input errors raise here)."""
    from runt_action.notebook.sweep import set_label

    entries = []
    for i, params in enumerate(base.sweep, start=1):
        label = set_label(i, params)
        plan = make_plan(settings, base.notebook, overrides=params, label=label)
        entries.append(Entry(plan, f"{name} [{label}]" if name else label, path))
    return entries


def run_sweep(settings: Settings, base: RunPlan) -> int:
    """Every input error is raised before anything starts (each set's plan is made first)."""
    entries = sweep_entries(settings, base, "", base.source_file)
    return eventloop.run(_Sweep(base, entries, max(1, settings.jobs)).main())


class _Sweep:
    def __init__(self, base: RunPlan, entries: list[Entry], jobs: int) -> None:
        from runt_action import report

        self.base = base
        self.entries = entries
        self.plans = [e.plan for e in entries]
        self.jobs = jobs
        # One stream of workflow commands for every set (secrets masked once, first).
        self.commands = report.live_log(
            github_actions=base.github_actions, secrets=base.secrets, log_output=False
        ).commands

    async def main(self) -> int:
        from runt_action.orchestrator.session import embedded_server

        # Made first: its runtimes boot while the server starts.
        batch = Batch(self.entries, jobs=self.jobs, live=self._live, announce=self._done)
        try:
            server = await embedded_server(self.base) if self.base.embedded else None
        except BaseException:
            batch.pool.discard()  # never leave a launched runtime behind
            raise
        batch.server = server
        try:
            results = await batch.run()
        finally:
            await stop_server(server, batch.shutdown)
        return self._publish(results)

    def _live(self, index: int, entry: Entry) -> LiveHooks:
        from runt_action import report
        from runt_action.report.prefixed import PrefixedLog

        plan = entry.plan
        if self.jobs > 1:  # several sets at once: whole lines, each prefixed with its set
            return PrefixedLog(self.commands, entry.name, log_output=plan.log_output)
        print(f"── sweep set {index + 1}/{len(self.plans)}: {plan.label}", flush=True)
        return report.live_log(
            github_actions=plan.github_actions, secrets=plan.secrets, log_output=plan.log_output
        )

    def _done(self, index: int, entry: Entry, result: RunResult) -> None:
        print(
            f"sweep set {index + 1}/{len(self.plans)} {entry.plan.label}: {result.status.value}",
            file=sys.stderr,
            flush=True,
        )

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
            code = max(code, write_documents(plan, result))
            params = {k: result.parameters.get(k) for k in params_set}  # secrets masked
            rows.append(SweepRow(plan.label or "", params, result, plan.ipynb_path, result_cells))
            code = max(code, EXIT[result.status])
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
