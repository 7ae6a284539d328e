"""The end-of-run report for a terminal or a log: plain text people read and copy from.

No Markdown and so no escaping: a table of the code cells with status symbols and durations,
the first error with its place in the YAML file and the end of its traceback, then every file
the run wrote, one absolute path per line (under Actions relative to the workspace, with the
``actions/upload-artifact`` step that publishes them), last (where a terminal leaves the eye).
Every line goes through ``strip_controls``: no escape sequence or control character reaches
the terminal, a hyperlink shows as ``text <url>`` and bidi controls as visible markers.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from runt_action.report.escape import strip_controls
from runt_action.report.live import STATUS_SYMBOLS, format_duration
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.report.summary import (
    artifact_items,
    cell_note,
    code_cells,
    first_error,
    shown_path,
    status_counts,
    upload_step,
)
from runt_action.results import RunResult

__all__ = ["MAX_LISTED_FILES", "render_terminal", "written_files"]

RUN_SYMBOLS = {"success": "✓", "failed": "✗", "error": "⚠", "cancelled": "⊘"}
MAX_LISTED_FILES = 20  # per output directory; the rest are counted
_MAX_ID = 40
_MAX_NOTE = 120
_TRACEBACK_LINES = 12


def _width(text: str) -> int:
    """Terminal columns: wide (East Asian) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _clip(text: str, limit: int) -> str:
    text = " ".join(strip_controls(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def written_files(
    artifacts: Mapping[str, str], *, github_actions: bool = False
) -> list[tuple[str, str]]:
    """(label, path) of every file, output directories expanded (up to a limit). Paths are
    absolute; under Actions relative to the workspace (as ``upload-artifact`` takes them)."""
    rows: list[tuple[str, str]] = []
    for label, path in artifact_items(artifacts, skip=()):
        shown = shown_path(path, github_actions)
        if not os.path.isdir(path):
            rows.append((label, shown))
            continue
        files = sorted(str(p) for p in Path(path).rglob("*") if p.is_file())
        rows.append((label, shown.rstrip("/" + os.sep) + "/" if github_actions else path + os.sep))
        rows.extend(("", shown_path(f, github_actions)) for f in files[:MAX_LISTED_FILES])
        if len(files) > MAX_LISTED_FILES:
            rows.append(("", f"… and {len(files) - MAX_LISTED_FILES} more in {shown}"))
    return rows


def _table(result: RunResult) -> list[str]:
    cells = code_cells(result)
    if not cells:
        return []
    retried = any(c.attempts > 1 for c in cells)  # the column only when it says something
    rows = [["#", "Cell", "Status", "Time", *(["Attempts"] if retried else []), "Note"]]
    for i, cell in enumerate(cells, start=1):
        rows.append(
            [
                str(i),
                _clip(cell.id, _MAX_ID),
                f"{STATUS_SYMBOLS.get(cell.status, '?')} {cell.status.value}",
                format_duration(cell.duration_ms) if cell.duration_ms else "",
                *([str(cell.attempts)] if retried else []),
                _clip(cell_note(cell), _MAX_NOTE),
            ]
        )
    columns = len(rows[0])
    widths = [max(_width(r[c]) for r in rows) for c in range(columns)]
    right = {0, 3, 4} if retried else {0, 3}  # numbers and durations line up on the right
    lines = []
    for row in rows:
        parts = [
            " " * (widths[c] - _width(v)) + v if c in right else _pad(v, widths[c])
            for c, v in enumerate(row)
        ]
        lines.append("  " + "  ".join(parts).rstrip())
    return lines


def render_terminal(
    result: RunResult,
    *,
    scrubber: Scrubber | None = None,
    problems: Sequence[str] = (),
    github_actions: bool = False,
) -> list[str]:
    """The report as lines (no newlines, no control characters, no secrets).

    ``github_actions``: files are named relative to the workspace, and an
    ``actions/upload-artifact`` step that publishes them is suggested."""
    scrubber = scrubber or Scrubber()
    result = scrub_result(result, scrubber)
    symbol = RUN_SYMBOLS.get(result.status.value, "?")
    title = _clip(result.title or result.source_file, 100)
    lines = [
        f"{symbol} {title}: {result.status.value} in {format_duration(result.duration_ms)}"
        f" ({status_counts(code_cells(result))}; runtime {result.runtime}"
        + (f", {result.runtime_note}" if result.runtime_note else "")
        + ")",
    ]
    table = _table(result)
    if table:
        lines += ["", *table]
    found = first_error(result)
    if found is not None:
        where = f" at {found.location}" if found.location else ""
        lines += ["", f"{found.heading}: cell {found.cell.id}{where}", f"  {found.message}"]
        if found.hint:
            lines.append(f"  hint: {found.hint}")
        if found.traceback:
            tb = [ln for ln in strip_controls(found.traceback).splitlines() if ln.strip()]
            shown = tb[-_TRACEBACK_LINES:]
            if len(tb) > len(shown):
                lines.append(f"  … ({len(tb) - len(shown)} earlier traceback lines)")
            lines += ["  | " + ln for ln in shown]
    if result.error:
        lines += ["", f"Run error: {_clip(result.error, 2000)}"]
    if result.notebook_url:
        lines += ["", f"Live notebook: {result.notebook_url}"]
    elif result.location_note:
        lines += ["", _clip(result.location_note, 500)]
    if problems:
        lines += ["", "Not written:", *(f"  {p}" for p in problems)]
    files = written_files(result.artifacts, github_actions=github_actions)
    if files:
        width = max(_width(label) for label, _ in files)
        lines += ["", "Files written:"]
        lines += [f"  {_pad(label, width)}  {path}" for label, path in files]
        if github_actions and not result.notebook_url:
            shown = [shown_path(p, True) for _, p in artifact_items(result.artifacts)]
            if shown:
                lines += ["", "To download them from the run's page, add a step after this one:"]
                lines += ["  " + ln for ln in upload_step(result, shown).splitlines()]
    return [scrubber.text(strip_controls(line).replace("\n", " ")) for line in lines]
