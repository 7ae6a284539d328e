"""Reporting: turn a RunResult into the job summary, step outputs, annotations and .ipynb.

:func:`publish` runs once at the end of a run (also after a failure or a signal);
:func:`live_log` gives the callbacks the orchestrator calls while cells run. Both scrub
every string they write with the run's secrets, whatever the orchestrator already masked.

The summary (jinja2) and .ipynb modules load on first use: the live log is needed at the start
of a run, when every millisecond of import delays it, and they only at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runt_action.report.annotations import MAX_ANNOTATIONS, annotate
from runt_action.report.commands import WorkflowCommands, in_github_actions
from runt_action.report.live import LiveLog
from runt_action.report.outputs import format_outputs, step_outputs, write_outputs
from runt_action.report.ownership import hand_back
from runt_action.report.scrub import Scrubber
from runt_action.results import RunResult

if TYPE_CHECKING:
    from runt_action.report.ipynb import build_notebook, write_notebook
    from runt_action.report.summary import SUMMARY_LIMIT, render_summary, write_summary

_LAZY = {
    "build_notebook": "runt_action.report.ipynb",
    "write_notebook": "runt_action.report.ipynb",
    "SUMMARY_LIMIT": "runt_action.report.summary",
    "render_summary": "runt_action.report.summary",
    "write_summary": "runt_action.report.summary",
}

__all__ = [
    "MAX_ANNOTATIONS",
    "SUMMARY_LIMIT",
    "LiveLog",
    "Scrubber",
    "WorkflowCommands",
    "annotate",
    "build_notebook",
    "format_outputs",
    "hand_back",
    "in_github_actions",
    "live_log",
    "publish",
    "render_summary",
    "step_outputs",
    "write_notebook",
    "write_outputs",
    "write_summary",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def live_log(
    *,
    github_actions: bool,
    secrets: Sequence[str] = (),
    stream: TextIO | None = None,
    tty: bool | None = None,
) -> LiveLog:
    """The live log for a run; the secrets are ``::add-mask::``ed before anything else."""
    commands = WorkflowCommands(
        stream, github_actions=github_actions, masks=secrets, scrubber=Scrubber(secrets)
    )
    return LiveLog(commands, tty=tty)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def publish(
    result: RunResult,
    *,
    summary_path: Path | None,
    output_path: Path | None,
    ipynb_path: Path | None,
    github_actions: bool,
    secrets: Sequence[str],
    stream: TextIO | None = None,
    summary_limit: int | None = None,
) -> None:
    """Write everything a finished (or failed, or cancelled) run leaves behind.

    In GitHub Actions, ``summary_path``/``output_path`` default to ``GITHUB_STEP_SUMMARY``/
    ``GITHUB_OUTPUT`` and the summary is appended; elsewhere ``summary_path`` is replaced and
    ``None`` prints the summary to ``stream`` (stdout). One part failing does not stop the
    others; the failure becomes a warning, because the run's own outcome matters more.
    ``summary_limit`` defaults to ``SUMMARY_LIMIT``.
    """
    from runt_action.report.ipynb import write_notebook
    from runt_action.report.summary import SUMMARY_LIMIT, render_summary, write_summary

    stream = stream if stream is not None else sys.stdout
    scrubber = Scrubber(secrets)
    commands = WorkflowCommands(
        stream, github_actions=github_actions, masks=secrets, scrubber=scrubber
    )
    if github_actions:
        summary_path = summary_path or _env_path("GITHUB_STEP_SUMMARY")
        output_path = output_path or _env_path("GITHUB_OUTPUT")

    def attempt(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # reporting must not mask the run's outcome
            commands.warning(f"could not write the {what}: {type(exc).__name__}: {exc}")

    if ipynb_path is not None:
        path = ipynb_path
        attempt("executed notebook", lambda: write_notebook(path, result, scrubber=scrubber))
    if output_path is not None:
        out = output_path
        attempt("step outputs", lambda: write_outputs(out, result, scrubber=scrubber))

    def summary() -> None:
        limit = SUMMARY_LIMIT if summary_limit is None else summary_limit
        if github_actions and summary_path is not None and summary_path.exists():
            limit -= summary_path.stat().st_size  # the 1 MiB cap is per step, not per write
        text = render_summary(result, scrubber=scrubber, max_bytes=max(limit, 0))
        if text:
            write_summary(text, summary_path, append=github_actions, stream=stream)

    attempt("job summary", summary)
    if github_actions:
        commands.ensure_newline()
        attempt("annotations", lambda: annotate(commands, result))
