"""``runt-automate test PATH...``: every notebook found, one batch, one report.

Every notebook runs as it does alone (its own notebook id, its parameter defaults, ``-p``/``-f``
applied to all, its .ipynb and HTML report under ``runt-output/<relative path>``); a notebook
with a ``sweep:`` is one entry per set. All plans are made first, so bad input in any notebook is
exit 2 before anything starts. The suite leaves, in its output directory, the results file
(report/records.py), ``index.html`` linking every report, and with ``--junit-xml`` a JUnit file;
one job summary table, one ``::error`` per failing notebook at its line, step outputs. Its exit
code is the worst of the notebooks that ran (a notebook ``-x`` kept from running is in every
report as not run, and does not make it worse).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runt_action import eventloop
from runt_action.batch.run import EXIT, Batch, Entry, stop_server, write_documents
from runt_action.console import PREFIX
from runt_action.errors import OutputWriteError
from runt_action.orchestrator.viewing import keep_viewing
from runt_action.results import LiveHooks, RunResult

if TYPE_CHECKING:
    from runt_action.report.commands import WorkflowCommands
    from runt_action.report.records import EntryRecord
    from runt_action.settings import Settings

__all__ = ["SuiteOptions", "plan_suite", "run_suite"]


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    paths: tuple[str, ...]
    ignore: tuple[str, ...] = ()
    exitfirst: bool = False
    junit_xml: Path | None = None
    shard: tuple[int, int] | None = None  # (I, N), 1-based
    durations: Path | None = None
    report_dir: Path | None = None  # default: <workspace>/runt-output


def run_suite(settings: Settings, options: SuiteOptions) -> int:
    from runt_action.orchestrator.footprint import settle, written_paths
    from runt_action.report.ownership import Footprint

    # A root container hands what the notebooks leave back to the workspace's owner.
    footprint = Footprint.begin(settings.github_workspace)
    try:
        entries, report_dir, skipped = plan_suite(settings, options)
        for entry in entries:
            footprint.add(written_paths(entry.plan))
        footprint.add([report_dir, options.junit_xml])
        return eventloop.run(_Suite(settings, options, entries, report_dir, skipped).main())
    finally:
        settle(footprint)


def plan_suite(settings: Settings, options: SuiteOptions) -> tuple[list[Entry], Path, int]:
    """The suite's entries (every input error raised here), its output directory, and how
    many notebooks other shards run."""
    from runt_action.batch.discover import discover
    from runt_action.batch.shard import read_durations, split
    from runt_action.batch.sweep import sweep_entries
    from runt_action.orchestrator.plan import make_plan

    root = settings.github_workspace or Path.cwd()
    report_dir = options.report_dir or root / "runt-output"
    notebooks = discover(options.paths, options.ignore)
    rels = _names(notebooks, root)
    skipped = 0
    if options.shard is not None:
        index, total = options.shard
        durations = read_durations(options.durations) if options.durations else None
        shards = split(rels, total, durations)
        keep = [i for i, s in enumerate(shards) if s == index - 1]
        skipped = len(notebooks) - len(keep)
        notebooks, rels = [notebooks[i] for i in keep], [rels[i] for i in keep]
    html = settings.html if _html_off(settings.html) else "auto"
    entries: list[Entry] = []
    for path, rel in zip(notebooks, rels, strict=True):
        one = settings.model_copy(
            update={
                "notebook": path,
                "output": report_dir / Path(rel).with_suffix(".ipynb"),
                "html": html,
                "notebook_id": None,
            }
        )
        plan = make_plan(one)
        if plan.sweep:
            entries += sweep_entries(one, plan, rel, rel)
        else:
            entries.append(Entry(plan, rel, rel))
    return entries, report_dir, skipped


def _html_off(value: str) -> bool:
    return value.strip().lower() in ("", "false", "off", "none", "no", "0")


def _names(paths: list[Path], root: Path) -> list[str]:
    """Each notebook's name in the suite: its path relative to the workspace (or the current
    directory) when all are inside it; else relative to the folder they have in common."""
    absolute = [p.absolute() for p in paths]
    base = root.absolute()
    if not all(p.is_relative_to(base) for p in absolute):
        base = Path(os.path.commonpath([p.parent for p in absolute]))
    return [p.relative_to(base).as_posix() for p in absolute]


class _Suite:
    def __init__(
        self,
        settings: Settings,
        options: SuiteOptions,
        entries: list[Entry],
        report_dir: Path,
        skipped: int,
    ) -> None:
        from runt_action.report.commands import WorkflowCommands
        from runt_action.report.scrub import Scrubber

        self.settings = settings
        self.options = options
        self.entries = entries
        self.report_dir = report_dir
        self.skipped = skipped
        self.jobs = max(1, settings.jobs)
        secrets = entries[0].plan.secrets if entries else ()
        self.secrets = secrets
        self.scrubber = Scrubber(secrets)
        # One stream of workflow commands for the whole suite (secrets masked once, first).
        self.commands: WorkflowCommands = WorkflowCommands(
            github_actions=settings.github_actions, masks=secrets, scrubber=self.scrubber
        )

    async def main(self) -> int:
        from runt_action.orchestrator.session import embedded_server

        shard = (
            f" (shard {self.options.shard[0]}/{self.options.shard[1]})"
            if self.options.shard
            else ""
        )
        print(
            f"{PREFIX}testing {len(self.entries)} notebook run(s){shard}, "
            f"{self.jobs} at a time, reports in {self.report_dir}",
            file=sys.stderr,
            flush=True,
        )
        batch = (
            Batch(
                self.entries,
                jobs=self.jobs,
                live=self._live,
                exitfirst=self.options.exitfirst,
                announce=self._done,
            )
            if self.entries
            else None
        )  # made first: its runtimes boot while the server starts
        first = self.entries[0].plan if self.entries else None
        try:
            embedded = first is not None and first.embedded
            server = await embedded_server(first) if first is not None and embedded else None
        except BaseException:
            if batch is not None:
                batch.pool.discard()  # never leave a launched runtime behind
            raise
        if server is not None and server.viewer is not None:
            url = server.viewer.entry_url()
            print(f"{PREFIX}live notebooks: {url}", file=sys.stderr, flush=True)
        results: list[RunResult] = []
        started: set[int] = set()
        if batch is not None:
            batch.server = server
            try:
                results = await batch.run()
                started = batch.started
            finally:
                if server is not None and server.viewer is None:
                    await stop_server(server, batch.shutdown)
        code = self._publish(results, started)
        if server is not None and server.viewer is not None:
            await keep_viewing(server)
        return code

    def _live(self, index: int, entry: Entry) -> LiveHooks:
        from runt_action import report
        from runt_action.report.prefixed import PrefixedLog

        plan = entry.plan
        if self.jobs > 1:
            return PrefixedLog(self.commands, entry.name, log_output=plan.log_output)
        self.commands.line(f"── [{index + 1}/{len(self.entries)}] {entry.name}")
        return report.live_log(
            github_actions=plan.github_actions, secrets=plan.secrets, log_output=plan.log_output
        )

    def _done(self, index: int, entry: Entry, result: RunResult) -> None:
        from runt_action.report.live import format_duration

        print(
            f"[{index + 1}/{len(self.entries)}] {self.scrubber.text(entry.name)}: "
            f"{result.status.value} in {format_duration(result.duration_ms)}",
            file=sys.stderr,
            flush=True,
        )

    # -- the reports ---------------------------------------------------------------------

    def _publish(self, results: list[RunResult], started: set[int]) -> int:
        from runt_action import report
        from runt_action.report.records import (
            RESULTS_FILE,
            SuiteRecord,
            entry_record,
            write_results,
        )

        code = 0
        records: list[EntryRecord] = []
        for i, (entry, result) in enumerate(zip(self.entries, results, strict=True)):
            plan = entry.plan
            output_dir = plan.engine.output_dir if plan.engine is not None else None
            if output_dir is not None and output_dir.is_dir():
                result.artifacts["outputs"] = str(output_dir.absolute())
            code = max(code, write_documents(plan, result))
            records.append(
                entry_record(
                    name=entry.name,
                    path=entry.path,
                    label=plan.label,
                    result=result,
                    out_dir=self.report_dir,
                    ipynb=plan.ipynb_path,
                    html=plan.html_path,
                    scrubber=self.scrubber,
                    started=i in started,
                )
            )
            if i in started:
                code = max(code, EXIT[result.status])
        shard = self.options.shard
        suite = SuiteRecord(
            records,
            shard=f"{shard[0]}/{shard[1]}" if shard else "1/1",
            started_at=results[0].started_at if results else "",
        )
        results_file = self.report_dir / RESULTS_FILE
        try:
            write_results(results_file, suite)
            write_index(self.report_dir, records)
            if self.options.junit_xml is not None:
                from runt_action.report.junit import write_junit

                write_junit(self.options.junit_xml, records)
        except (OSError, OutputWriteError) as exc:
            print(f"{PREFIX}could not write the suite's files: {exc}", file=sys.stderr)
            code = 3
        note = f"{self.skipped} more notebook(s) run in the other shards." if self.skipped else ""
        code = max(
            code,
            publish_suite(
                self.settings,
                self.commands,
                records,
                note=note,
                junit_xml=self.options.junit_xml,
                results_file=results_file,
                report_dir=self.report_dir,
            ),
        )
        # A root container must not leave root-owned files in the runner's checkout.
        report.hand_back([self.report_dir, self.options.junit_xml], self.settings.github_workspace)
        return code


def write_index(report_dir: Path, records: list[EntryRecord]) -> None:
    from runt_action.report.files import write_file
    from runt_action.report.suite import render_index_html

    write_file(report_dir / "index.html", render_index_html(records))


def publish_suite(
    settings: Settings,
    commands: WorkflowCommands,
    records: list[EntryRecord],
    *,
    note: str,
    junit_xml: Path | None,
    results_file: Path | None,
    report_dir: Path,
) -> int:
    """The summary (a table; printed when there is no summary file), the step outputs and one
    ``::error`` per failing notebook at its line; 3 when one of them could not be written."""
    from runt_action.orchestrator.plan import summary_targets
    from runt_action.report.outputs import format_outputs
    from runt_action.report.scrub import Scrubber
    from runt_action.report.suite import render_suite_summary, render_suite_text, suite_outputs
    from runt_action.report.summary import write_summary
    from runt_action.workspace import workspace_relative

    scrubber = commands.scrubber if isinstance(commands.scrubber, Scrubber) else Scrubber()
    actions = settings.github_actions
    summary, copy = summary_targets(settings)
    shown_dir = workspace_relative(report_dir) if actions else str(report_dir)
    code = 0
    for e in records:
        if e.status in ("failed", "error"):
            message = e.first_error or e.error or f"the notebook {e.status}"
            commands.error(
                message, file=e.source_file, line=e.error_line, title=f"{e.name} {e.status}"
            )
    try:
        if summary is not None:
            text = render_suite_summary(
                records, report_root=shown_dir, scrubber=scrubber, note=note
            )
            write_summary(text, summary, append=actions)
            if copy is not None:
                write_summary(text, copy, append=False)
        if summary is None or not actions:
            sys.stdout.write(scrubber.text(render_suite_text(records)))
            if note:
                sys.stdout.write(note + "\n")
            sys.stdout.flush()
        output = settings.github_output
        if output is not None:
            values = suite_outputs(
                records,
                junit_xml=str(junit_xml) if junit_xml is not None else "",
                results_file=str(results_file) if results_file is not None else "",
            )
            with output.open("a", encoding="utf-8", newline="") as fh:
                fh.write(format_outputs({k: scrubber.text(v) for k, v in values.items()}))
    except OSError as exc:
        print(f"{PREFIX}could not write the suite summary: {exc}", file=sys.stderr)
        code = 3
    return code
