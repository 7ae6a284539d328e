"""Reporting: turn a RunResult into the job summary, step outputs, annotations and .ipynb.

:func:`publish` runs once at the end of a run (also after a failure or a signal);
:func:`live_log` gives the callbacks the orchestrator calls while cells run. Both scrub
every string they write with the run's secrets, whatever the orchestrator already masked.

The summary (jinja2) and .ipynb modules load on first use: the live log is needed at the start
of a run, when every millisecond of import delays it, and they only at the end.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runt_action.errors import InputError, OutputWriteError
from runt_action.report.annotations import MAX_ANNOTATIONS, annotate
from runt_action.report.commands import WorkflowCommands, in_github_actions
from runt_action.report.live import LiveLog
from runt_action.report.outputs import format_outputs, step_outputs, write_outputs
from runt_action.report.ownership import hand_back
from runt_action.report.scrub import Scrubber
from runt_action.results import RunResult

if TYPE_CHECKING:
    from runt_action.report.html import FragmentCache
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
    "publish_input_error",
    "render_summary",
    "step_outputs",
    "write_documents",
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


def write_documents(
    result: RunResult,
    *,
    ipynb: Path | None,
    html: Path | None,
    secrets: Sequence[str],
    fragment_cache: FragmentCache | None = None,
) -> None:
    """The .ipynb and the HTML report of ``result`` (either path None: not that one).

    For the writes outside :func:`publish` (checkpoints, sweep sets, watch rounds); errors
    propagate (OSError, OutputWriteError) for the caller to report its own way."""
    from runt_action.report.html import write_html
    from runt_action.report.ipynb import write_notebook

    if ipynb is not None:
        write_notebook(ipynb, result, scrubber=Scrubber(secrets))
    if html is not None:
        write_html(result, html, secrets=secrets, fragment_cache=fragment_cache)


def live_log(
    *,
    github_actions: bool,
    secrets: Sequence[str] = (),
    stream: TextIO | None = None,
    tty: bool | None = None,
    log_output: bool = True,
) -> LiveLog:
    """The live log for a run; the secrets are ``::add-mask::``ed before anything else.
    ``log_output=False`` keeps cell outputs out of it (``--no-log-output``)."""
    commands = WorkflowCommands(
        stream, github_actions=github_actions, masks=secrets, scrubber=Scrubber(secrets)
    )
    return LiveLog(commands, tty=tty, log_output=log_output)


def _reporters(
    stream: TextIO | None,
    secrets: Sequence[str],
    github_actions: bool,
    summary_path: Path | None,
    output_path: Path | None,
) -> tuple[TextIO, Scrubber, WorkflowCommands, Path | None, Path | None]:
    """What every publishing entry point starts from: the stream, the scrubber, the workflow
    commands (secrets masked first) and, under Actions, the runner's summary/output files."""
    out = stream if stream is not None else sys.stdout
    scrubber = Scrubber(secrets)
    commands = WorkflowCommands(
        out, github_actions=github_actions, masks=secrets, scrubber=scrubber
    )
    if github_actions:
        summary_path = summary_path or _env_path("GITHUB_STEP_SUMMARY")
        output_path = output_path or _env_path("GITHUB_OUTPUT")
    return out, scrubber, commands, summary_path, output_path


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


#: What each part is called in a "could not write" line.
_PART_NAMES = {
    "ipynb": "executed notebook",
    "html": "HTML report",
    "step-outputs": "step outputs",
    "summary": "job summary",
}


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
    extra_files: Mapping[str, tuple[Path, Callable[[Path], object]]] | None = None,
) -> None:
    """Write everything a finished (or failed, or cancelled) run leaves behind.

    Order: the .ipynb, then ``extra_files`` (kind -> (path, writer): e.g. the HTML report;
    the writer scrubs its own text), then ``GITHUB_OUTPUT``, the job summary, the plain-text
    report on ``stream`` (stdout) ending with every file written, and (Actions) annotations.
    Files written are added to the reported ``result.artifacts`` under their kind (``ipynb``,
    ``summary`` outside Actions, each extra kind).

    In GitHub Actions, ``summary_path``/``output_path`` default to ``GITHUB_STEP_SUMMARY``/
    ``GITHUB_OUTPUT`` and the summary is appended; elsewhere ``summary_path`` is replaced
    (``None``: no markdown, the plain report on ``stream`` is the summary).
    ``summary_limit`` defaults to ``SUMMARY_LIMIT``.

    Every part is attempted; if any failed, :class:`~runt_action.errors.OutputWriteError`
    is raised at the end, one line per failed part (exit 3), and the summary and the plain
    report list them under "Not written".
    """
    from runt_action.report.ipynb import write_notebook
    from runt_action.report.summary import SUMMARY_LIMIT, render_summary, write_summary
    from runt_action.report.terminal import render_terminal

    stream, scrubber, commands, summary_path, output_path = _reporters(
        stream, secrets, github_actions, summary_path, output_path
    )
    artifacts = dict(result.artifacts)
    problems: list[str] = []

    def attempt(
        kind: str, path: Path | None, action: Callable[[], object], *, listed: bool = True
    ) -> None:
        """Run one part; a failure becomes a problem line, success a listed artifact."""
        try:
            action()
        except Exception as exc:  # every other part is still written
            artifacts.pop(kind, None)
            where = f" to {os.path.abspath(path)}" if path is not None else ""
            reason = f"{type(exc).__name__}: {exc}"
            problems.append(f"could not write the {_PART_NAMES.get(kind, kind)}{where}: {reason}")
            return
        if path is not None and listed:
            artifacts[kind] = os.path.abspath(path)

    if ipynb_path is not None:
        nb_path = ipynb_path
        attempt("ipynb", nb_path, lambda: write_notebook(nb_path, result, scrubber=scrubber))
    for kind, (path, writer) in (extra_files or {}).items():
        attempt(kind, path, functools.partial(writer, path))
    if output_path is not None:
        out = output_path
        attempt(
            "step-outputs", out, lambda: write_outputs(out, result, scrubber=scrubber), listed=False
        )

    if summary_path is not None:
        target = summary_path

        def summary() -> None:
            limit = SUMMARY_LIMIT if summary_limit is None else summary_limit
            if github_actions and target.exists():
                limit -= target.stat().st_size  # the 1 MiB cap is per step, not per write
            shown = replace(result, artifacts=artifacts)
            text = render_summary(
                shown,
                scrubber=scrubber,
                max_bytes=max(limit, 0),
                problems=problems,
                github_actions=github_actions,
            )
            if text:
                write_summary(text, target, append=github_actions)

        # GITHUB_STEP_SUMMARY is the runner's file, not one of ours to list
        attempt("summary", target, summary, listed=not github_actions)

    def plain_report() -> None:
        lines = render_terminal(
            replace(result, artifacts=artifacts),
            scrubber=scrubber,
            problems=problems,
            github_actions=github_actions,
        )
        commands.ensure_newline()
        commands.line("")  # set apart from the live log above
        for line in lines:
            commands.line(line)

    try:
        plain_report()
    except Exception as exc:  # a closed stdout must not hide the files' own failures
        problems.append(f"could not print the report: {type(exc).__name__}: {exc}")
    if github_actions:
        try:
            commands.ensure_newline()
            annotate(commands, result)
            for problem in problems:
                commands.error(problem, title="Not written")
        except Exception as exc:
            problems.append(f"could not write the annotations: {type(exc).__name__}: {exc}")
    if problems:
        raise OutputWriteError("\n".join(problems))


def publish_input_error(
    error: InputError,
    *,
    notebook: str | None,
    summary_path: Path | None,
    output_path: Path | None,
    github_actions: bool,
    stream: TextIO | None = None,
    secrets: Sequence[str] = (),
) -> None:
    """Report bad input (exit 2) where Actions users look: summary, ``status``, annotation.

    Writes a short summary ("Invalid input" and the one line), the step output
    ``status=invalid`` and one ``::error file=,line=,col=::`` annotation at the offending line
    (the error's own file, else ``notebook``). Outside Actions only an explicit
    ``summary_path`` is written; the CLI prints the one line itself. A part that cannot be
    written becomes a warning: the exit code stays the input error's.
    """
    from runt_action.report.escape import code_block, escape_md
    from runt_action.report.summary import write_summary

    stream, scrubber, commands, summary_path, output_path = _reporters(
        stream, secrets, github_actions, summary_path, output_path
    )
    line = scrubber.text(str(error))
    file = getattr(error, "file", None) or notebook
    row = getattr(error, "line", 0) or None
    col = getattr(error, "column", 0) or None
    message = scrubber.text(getattr(error, "message", None) or line)
    failures: list[str] = []
    if summary_path is not None:
        title = f"in {escape_md(file)}" if file else ""
        text = scrubber.text(
            f"## ⚠️ Invalid input {title}\n\n{code_block(line)}\n\n"
            "Nothing was run. Fix the input and run again.\n"
        )
        try:
            write_summary(text, summary_path, append=github_actions)
        except Exception as exc:
            failures.append(f"job summary to {summary_path}: {type(exc).__name__}: {exc}")
    if github_actions and output_path is not None:
        try:
            with output_path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(format_outputs({"status": "invalid"}))
        except Exception as exc:
            failures.append(f"step outputs to {output_path}: {type(exc).__name__}: {exc}")
    if github_actions:
        commands.error(message, file=file, line=row, col=col, title="Invalid input")
    for failure in failures:
        commands.warning(f"could not write the {failure}")
