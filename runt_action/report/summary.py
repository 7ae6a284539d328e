"""The job summary: GitHub-flavoured markdown rendered from a RunResult with jinja2.

Every string that comes from the notebook or its output is hostile: the environment's
``finalize`` hook markdown-escapes whatever a template prints unless it is ``Markup`` built
here (code blocks with a long enough fence, HTML-escaped text, vetted links). GitHub drops a
step summary over 1 MiB entirely, so :func:`render_summary` degrades step by step: output
excerpts first, then long tables, and says so in the summary.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from runt_action.report.escape import code_block, escape_html, escape_md, strip_ansi
from runt_action.report.files import write_text_atomic
from runt_action.report.live import format_duration, output_text
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult

__all__ = ["SUMMARY_LIMIT", "render_summary", "write_summary"]

#: GitHub refuses a step summary over 1 MiB ("supports content up to a size of 1024k").
SUMMARY_LIMIT = 1024 * 1024 - 4096

RUN_ICONS = {"success": "✅", "failed": "❌", "error": "⚠️", "cancelled": "🚫"}
CELL_ICONS: dict[CellStatus, str] = {
    CellStatus.SUCCESS: "✅",
    CellStatus.FAILED: "❌",
    CellStatus.TIMEOUT: "⏱️",
    CellStatus.CANCELLED: "🚫",
    CellStatus.SKIPPED: "⏭️",
    CellStatus.NOT_EXECUTED: "📝",
    CellStatus.ALLOWED_ERROR: "⚠️",
}


@dataclass(frozen=True, slots=True)
class _Budget:
    """How much of each part the summary may show; shrinks until the summary fits."""

    excerpts: bool = True
    excerpt_chars: int = 3000
    excerpt_lines: int = 30
    max_excerpts: int = 50
    traceback_chars: int = 8000
    traceback_lines: int = 60
    max_cells: int = 10_000
    max_parameters: int = 200
    field_chars: int = 300


_BUDGETS = (
    _Budget(),
    _Budget(excerpts=False),
    _Budget(excerpts=False, max_cells=1000, traceback_chars=4000, max_parameters=50),
    _Budget(
        excerpts=False,
        max_cells=50,
        traceback_chars=1500,
        traceback_lines=20,
        max_parameters=20,
        field_chars=100,
    ),
)


# -- escaping helpers for the template ------------------------------------------------------
def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup | int):
        return value
    return escape_md(str(value))


def _codeblock(text: str) -> Markup:
    return Markup(code_block(text))


def _html(text: str) -> Markup:
    return Markup(escape_html(text))


def md_link(text: str, url: str) -> Markup | None:
    """A markdown link only for plain http(s) URLs; anything else is not linked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    dest = quote(url, safe="/:?#[]@!$&*+,;=%~-._")  # percent-encodes ( ) < > " ' \ space
    return Markup(f"[{escape_md(text)}]({dest})")


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("runt_action.report", "templates"),
    autoescape=False,  # markdown, not HTML: escaping is done by _finalize
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["codeblock"] = _codeblock
_ENV.filters["html"] = _html


# -- view model -----------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _tail(text: str, max_chars: int, max_lines: int) -> tuple[str, bool]:
    """The end of a text (where errors and final results are), and whether it was cut."""
    lines = text.rstrip("\n").split("\n")
    clipped = False
    if len(lines) > max_lines:
        lines, clipped = lines[-max_lines:], True
    out = "\n".join(lines)
    if len(out) > max_chars:
        out, clipped = out[-max_chars:], True
    return out, clipped


def _error_output(cell: CellResult) -> CellOutput | None:
    return next((o for o in cell.outputs if o.output_type == "error"), None)


def _cell_text(cell: CellResult) -> str:
    return "".join(output_text(o) for o in cell.outputs if o.output_type != "error")


def _cell_rows(result: RunResult, budget: _Budget) -> Iterator[dict[str, Any]]:
    f = budget.field_chars
    for i, cell in enumerate(result.cells[: budget.max_cells], start=1):
        err = _error_output(cell)
        note = cell.reason or ""
        if err is not None and cell.status is not CellStatus.SUCCESS:
            note = f"{err.ename}: {err.evalue}"
        yield {
            "index": i,
            "id": _clip(cell.id, f),
            "type": _clip(cell.cell_type, 20),
            "icon": CELL_ICONS.get(cell.status, "❔"),
            "status": cell.status.value,
            "duration": Markup(format_duration(cell.duration_ms)) if cell.duration_ms else "",
            "attempts": cell.attempts,
            "note": _clip(" ".join(note.split()), f),
        }


def _error_view(result: RunResult, budget: _Budget) -> dict[str, Any] | None:
    failed = result.failed_cells
    if not failed:
        return None
    cell = failed[0]
    err = _error_output(cell)
    traceback = ""
    message = cell.reason or ""
    if err is not None:
        message = f"{err.ename}: {err.evalue}"
        traceback = strip_ansi("\n".join(err.traceback)) or message
    excerpt, clipped = _tail(traceback, budget.traceback_chars, budget.traceback_lines)
    return {
        "heading": "Cell timed out" if cell.status is CellStatus.TIMEOUT else "First error",
        "cell_id": _clip(cell.id, budget.field_chars),
        "location": f"{result.source_file}:{cell.line}" if cell.line else "",
        "message": _clip(" ".join(message.split()), budget.field_chars * 3),
        "traceback": excerpt,
        "traceback_clipped": clipped,
    }


def _excerpts(result: RunResult, budget: _Budget) -> tuple[list[dict[str, Any]], int]:
    if not budget.excerpts:
        return [], 0
    views = []
    for cell in result.cells:
        text = strip_ansi(_cell_text(cell)).strip("\n")
        if not text.strip():
            continue
        excerpt, clipped = _tail(text, budget.excerpt_chars, budget.excerpt_lines)
        views.append(
            {"cell_id": _clip(cell.id, budget.field_chars), "text": excerpt, "clipped": clipped}
        )
    return views[: budget.max_excerpts], max(len(views) - budget.max_excerpts, 0)


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _context(result: RunResult, budget: _Budget, excerpts_dropped: bool) -> dict[str, Any]:
    f = budget.field_chars
    counts = Counter(c.status for c in result.cells)
    order = list(CellStatus)
    count_text = (
        ", ".join(f"{counts[s]} {s.value}" for s in sorted(counts, key=order.index) if counts[s])
        or "none"
    )
    link: Markup | str | None = None
    if result.notebook_url:
        link = md_link("Open the live notebook", result.notebook_url)
        if link is None:
            link = "Live notebook: " + _clip(result.notebook_url, f)
    params = sorted(result.parameters.items(), key=lambda kv: str(kv[0]))
    excerpts, omitted_excerpts = _excerpts(result, budget)
    return {
        "icon": RUN_ICONS.get(result.status.value, "❔"),
        "title": _clip(result.title or result.source_file, f),
        "link": link,
        "location_note": _clip(result.location_note or "", f * 2),
        "status": result.status.value,
        "counts": Markup(count_text),  # our own words and numbers
        "duration": Markup(format_duration(result.duration_ms)),
        "runtime": _clip(result.runtime, 40),
        "cells": list(_cell_rows(result, budget)),
        "omitted_cells": max(len(result.cells) - budget.max_cells, 0),
        "error": _error_view(result, budget),
        "run_error": _clip(result.error, f * 10) if result.error else None,
        "parameters": [
            (_clip(str(k), 100), _clip(_param_value(v), f))
            for k, v in params[: budget.max_parameters]
        ],
        "omitted_parameters": max(len(params) - budget.max_parameters, 0),
        "excerpts": excerpts,
        "omitted_excerpts": omitted_excerpts,
        "excerpts_dropped": excerpts_dropped,
        "timings": [
            (_clip(str(k), 60), Markup(format_duration(v)))
            for k, v in list(result.timings.items())[:50]
            if isinstance(v, int | float)
        ],
        "started_at": _clip(result.started_at, 60),
        "notebook_id": _clip(result.notebook_id, 100),
        "source_file": _clip(result.source_file, f),
    }


def _has_excerpts(result: RunResult) -> bool:
    return any(_cell_text(c).strip() for c in result.cells)


def render_summary(
    result: RunResult, *, scrubber: Scrubber | None = None, max_bytes: int = SUMMARY_LIMIT
) -> str:
    """The summary markdown, under ``max_bytes`` of UTF-8, with no secret of ``scrubber``."""
    scrubber = scrubber or Scrubber()
    result = scrub_result(result, scrubber)
    template = _ENV.get_template("summary.md.j2")
    dropped = False
    text = ""
    for budget in _BUDGETS:
        text = scrubber.text(template.render(_context(result, budget, dropped)))
        if len(text.encode()) <= max_bytes:
            return text
        dropped = dropped or (budget.excerpts and _has_excerpts(result))
    return _hard_cut(text, max_bytes)


def _hard_cut(text: str, max_bytes: int) -> str:
    """Last resort: cut at a line boundary and say so (never reached with sane limits)."""
    note = "\n\n_Summary truncated to stay under GitHub's 1 MiB limit._\n"
    room = max(max_bytes - len(note.encode()), 0)
    head = text.encode()[:room].decode(errors="ignore")
    head = head[: head.rfind("\n") + 1] if "\n" in head else ""
    return head + note if len((head + note).encode()) <= max_bytes else ""


def write_summary(
    text: str, path: Path | None, *, append: bool, stream: TextIO | None = None
) -> None:
    """Append (GITHUB_STEP_SUMMARY) or write (``--summary FILE``); ``None`` prints it."""
    if path is None:
        out = stream if stream is not None else sys.stdout
        out.write(text)
        out.flush()
        return
    if append:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    else:
        write_text_atomic(path, text)
