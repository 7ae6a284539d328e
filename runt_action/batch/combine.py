"""``runt-automate combine DIR...``: the shards of a suite, merged into one report.

Each DIR is a suite's output directory (a downloaded artifact) holding ``runt-results.json``;
nothing is re-run. The result: one summary table (the job summary under Actions, else printed),
one JUnit file (``--junit-xml``), one index page linking every notebook's report where it lies,
and the suite's step outputs. The exit code is the worst status of the merged notebooks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from runt_action.console import PREFIX
from runt_action.errors import OutputWriteError, UsageError

__all__ = ["combine"]

_EXIT = {"success": 0, "failed": 1, "error": 3, "cancelled": 3}


def combine(
    dirs: Sequence[Path], *, junit_xml: Path | None, index: Path, summary: Path | None
) -> int:
    from runt_action.report.commands import WorkflowCommands
    from runt_action.report.files import write_file
    from runt_action.report.junit import write_junit
    from runt_action.report.records import NOT_RUN, RESULTS_FILE, EntryRecord, read_results
    from runt_action.report.suite import render_index_html
    from runt_action.settings import load_settings

    settings = load_settings(summary=summary, junit_xml=junit_xml)
    entries: list[EntryRecord] = []
    hrefs: list[str] = []
    seen: dict[str, Path] = {}
    for folder in dirs:
        path = folder / RESULTS_FILE if folder.is_dir() else folder
        if not path.is_file():
            raise UsageError(f"{PROG_COMBINE}: {folder}: no {RESULTS_FILE} in it")
        suite = read_results(path)
        for entry in suite.entries:
            if entry.name in seen:
                raise UsageError(
                    f"{PROG_COMBINE}: {entry.name} is in both {seen[entry.name]} and {path} "
                    "(shards of different runs?)"
                )
            seen[entry.name] = path
            entries.append(entry)
            target = entry.html or entry.ipynb
            hrefs.append(_href(path.parent / target, index.parent) if target else "")
    order = sorted(range(len(entries)), key=lambda i: entries[i].name)
    entries = [entries[i] for i in order]
    hrefs = [hrefs[i] for i in order]
    code = 0
    try:
        write_file(index, render_index_html(entries, title="Notebook suite", hrefs=hrefs))
        if settings.junit_xml is not None:
            write_junit(settings.junit_xml, entries)
    except (OSError, OutputWriteError) as exc:
        print(f"{PREFIX}could not write the combined files: {exc}", file=sys.stderr)
        code = 3
    from runt_action.batch.suite import publish_suite

    commands = WorkflowCommands(github_actions=settings.github_actions)
    code = max(
        code,
        publish_suite(
            settings,
            commands,
            entries,
            note=f"Combined from {len(dirs)} result directories.",
            junit_xml=settings.junit_xml,
            results_file=None,
            report_dir=index.parent,
        ),
    )
    return max([code, *(_EXIT.get(e.status, 3) for e in entries if e.status != NOT_RUN)])


PROG_COMBINE = "runt-automate combine"


def _href(target: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(target.absolute(), base.absolute())).as_posix()
    except ValueError:
        return target.absolute().as_uri()
