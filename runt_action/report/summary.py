"""The job summary: GitHub-flavoured markdown rendered from a RunResult with jinja2.

In order: the status; the live notebook link, or else where the HTML report and .ipynb are;
the first error; the code cells' table; then the notebook itself (markdown cells as markdown,
each code cell's source and outputs in a collapsed block, images as placeholders); internal
timings collapsed at the end.

Every string that comes from the notebook or its output is hostile: the environment's
``finalize`` hook markdown-escapes whatever a template prints unless it is ``Markup`` built
here (code blocks and spans with a long enough fence, HTML-escaped text, vetted links, markdown
cells contained by :mod:`report.markdown`). GitHub drops a step summary over 1 MiB entirely, so
:func:`render_summary` degrades step by step (shorter outputs, then no notebook section, then
shorter tables) and says so in the summary.

Every such string also passes ``strip_controls`` (through ``escape_md``, ``code_block``,
``code_span``, ``escape_html`` and the markdown cells' containment): no escape sequence or
control character, hyperlinks as ``text <url>`` and bidi controls as visible markers
(``⟦U+202E⟧``), so a line cannot read differently from what it is. The .ipynb keeps the raw data.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import jinja2
from markupsafe import Markup

from runt_action.report.annotations import error_line
from runt_action.report.escape import (
    code_block,
    code_span,
    escape_html,
    escape_md,
    link_md,
    strip_ansi,
    strip_controls,
)
from runt_action.report.files import write_file
from runt_action.report.live import format_duration
from runt_action.report.media import output_as_text
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult
from runt_action.workspace import workspace_relative

__all__ = [
    "ARTIFACT_LABELS",
    "SUMMARY_LIMIT",
    "code_cells",
    "first_error",
    "is_code_cell",
    "render_summary",
    "write_summary",
]

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
#: How each kind of ``RunResult.artifacts`` entry is named; unknown kinds use their key.
ARTIFACT_LABELS = {
    "html": "HTML report",
    "ipynb": "Executed notebook (.ipynb)",
    "outputs": "Output files",
    "summary": "Summary",
    "db": "Sync database",
}
_ARTIFACT_ORDER = ("html", "ipynb", "outputs")
_COUNT_WORDS = {
    CellStatus.SUCCESS: "succeeded",
    CellStatus.FAILED: "failed",
    CellStatus.TIMEOUT: "timed out",
    CellStatus.CANCELLED: "cancelled",
    CellStatus.SKIPPED: "skipped",
    CellStatus.ALLOWED_ERROR: "failed (allowed)",
    CellStatus.NOT_EXECUTED: "not executed",
}


@dataclass(frozen=True, slots=True)
class _Budget:
    """How much of each part the summary may show; shrinks until the summary fits."""

    notebook: bool = True
    output_chars: int = 4000
    output_lines: int = 40
    source_chars: int = 4000
    source_lines: int = 80
    markdown_chars: int = 10_000
    traceback_chars: int = 8000
    traceback_lines: int = 60
    max_cells: int = 10_000
    max_parameters: int = 200
    field_chars: int = 300


_BUDGETS = (
    _Budget(),
    _Budget(
        output_chars=1000, output_lines=10, source_chars=1000, source_lines=15, markdown_chars=2000
    ),
    _Budget(notebook=False),
    _Budget(notebook=False, max_cells=1000, traceback_chars=4000, max_parameters=50),
    _Budget(
        notebook=False,
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


def _codeblock(text: str, info: str = "text") -> Markup:
    return Markup(code_block(text, info=info))


def _html(text: str) -> Markup:
    return Markup(escape_html(text))


def _code(text: str) -> Markup:
    return Markup(code_span(text))


def md_link(text: str, url: str) -> Markup | None:
    """A markdown link only for plain http(s) URLs; anything else is not linked."""
    link = link_md(text, url)
    return Markup(link) if link is not None else None


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
_ENV.filters["code"] = _code


# -- shared with the terminal report ----------------------------------------------------------
def is_code_cell(cell: CellResult) -> bool:
    """Cells the runtime executes (code, sql, ai); markdown and raw cells are not."""
    return cell.cell_type not in ("markdown", "raw") and cell.status is not CellStatus.NOT_EXECUTED


def code_cells(result: RunResult) -> list[CellResult]:
    return [c for c in result.cells if is_code_cell(c)]


def _error_output(cell: CellResult) -> CellOutput | None:
    return next((o for o in cell.outputs if o.output_type == "error"), None)


@dataclass(frozen=True, slots=True)
class FirstError:
    """The first failed cell, as both reports show it."""

    cell: CellResult
    heading: str  # "First error" | "Cell timed out"
    message: str  # "ValueError: boom", or why it failed
    location: str  # "notebooks/x.yml:20", or "" when the line is unknown
    traceback: str  # ANSI stripped; may be ""
    hint: str = ""  # a missing module: every module the notebook misses, and how to get them


def first_error(result: RunResult) -> FirstError | None:
    failed = result.failed_cells
    if not failed:
        return None
    cell = failed[0]
    err = _error_output(cell)
    message = cell.reason or f"cell {cell.status.value}"
    traceback = ""
    if err is not None:
        traceback = strip_ansi("\n".join(err.traceback))
        # A timeout's own KeyboardInterrupt says nothing; the reason says what happened.
        if cell.status is not CellStatus.TIMEOUT or not cell.reason:
            message = f"{err.ename or 'Error'}: {err.evalue or ''}"
    return FirstError(
        cell=cell,
        heading="Cell timed out" if cell.status is CellStatus.TIMEOUT else "First error",
        message=" ".join(message.split()),
        location=f"{result.source_file}:{line}" if (line := error_line(cell)) else "",
        traceback=traceback,
        hint=missing_module_hint(result) if err is not None and _missing(err) else "",
    )


_NO_MODULE = re.compile(r"No module named '([^'.]+)")
_NOT_RUN = (CellStatus.SKIPPED, CellStatus.CANCELLED, CellStatus.NOT_EXECUTED)


def _missing(err: CellOutput) -> str | None:
    if err.ename != "ModuleNotFoundError":
        return None
    found = _NO_MODULE.search(err.evalue or "")
    return found.group(1) if found else None


def missing_module_hint(result: RunResult) -> str:
    """Every module the notebook misses, named at once, and how to get them where it runs.

    Known missing: each failed cell's ModuleNotFoundError. The cells that did not run (after
    the failure) are read for their imports too: on the python runtime each is checked in this
    interpreter (the kernel's), on Pyodide the ones outside the standard library and not
    imported by a cell that succeeded are named as unchecked."""
    from runt_action.packages import importable, imported_modules, missing_modules_hint

    known: list[str] = []
    for cell in result.cells:
        err = _error_output(cell)
        name = _missing(err) if err is not None else None
        if name and name not in known:
            known.append(name)
    if not known:
        return ""
    ran: set[str] = set()
    later: list[str] = []
    for cell in result.cells:
        if cell.cell_type != "code":
            continue
        modules = imported_modules(cell.source or "")
        if cell.status is CellStatus.SUCCESS:
            ran.update(modules)
        elif cell.status in _NOT_RUN:
            later += [m for m in modules if m not in later]
    candidates = [m for m in later if m not in known and m not in ran]
    candidates = [m for m in candidates if m not in sys.stdlib_module_names]
    if result.runtime == "python":
        known += [m for m in candidates if not importable(m)]
        return missing_modules_hint(known, result.runtime)
    return missing_modules_hint(known, result.runtime, unchecked=candidates)


def cell_note(cell: CellResult) -> str:
    """One line: the error or reason, then the cell's notes (truncation, restart, ...)."""
    parts: list[str] = []
    err = _error_output(cell)
    if cell.status is CellStatus.TIMEOUT and cell.reason:
        parts.append(cell.reason)  # "exceeded the 2 s cell timeout", not KeyboardInterrupt
    elif err is not None and cell.status is not CellStatus.SUCCESS:
        parts.append(f"{err.ename}: {err.evalue}")
    elif cell.reason:
        parts.append(cell.reason)
    parts.extend(cell.notes)
    if cell.ai is not None:
        parts.append(ai_usage(cell.ai))
    return " ".join("; ".join(p for p in parts if p).split())


def ai_usage(ai: dict[str, Any]) -> str:
    """An AI cell's model, tokens and latency, in one phrase."""
    usage = ai.get("usage") or {}
    tokens = (
        f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} "
        "completion tokens"
        if usage
        else "tokens not reported"
    )
    seconds = float(ai.get("latency_ms") or 0) / 1000
    return f"AI: {ai.get('model', '?')}, {tokens}, {seconds:.2f} s"


def status_counts(cells: Sequence[CellResult]) -> str:
    counts = Counter(c.status for c in cells)
    order = list(CellStatus)
    text = ", ".join(
        f"{counts[s]} {_COUNT_WORDS.get(s, s.value)}"
        for s in sorted(counts, key=order.index)
        if counts[s]
    )
    return text or "no code cells"


def artifact_items(
    artifacts: Mapping[str, str], *, skip: Sequence[str] = ("summary",)
) -> list[tuple[str, str]]:
    """(label, absolute path) in a stable order: report, notebook, outputs, then the rest."""
    keys = [k for k in _ARTIFACT_ORDER if k in artifacts]
    keys += sorted(k for k in artifacts if k not in keys and k not in skip)
    return [(ARTIFACT_LABELS.get(k, k), os.path.abspath(artifacts[k])) for k in keys]


def shown_path(path: str, github_actions: bool) -> str:
    """How a report names a file: under Actions relative to the workspace (what GitHub and
    ``actions/upload-artifact``, a step on the host, understand; the container's absolute
    ``/github/workspace/...`` means nothing there), else absolute."""
    return workspace_relative(path) if github_actions else path


def upload_step(result: RunResult, paths: Sequence[str]) -> str:
    """A workflow step that publishes ``paths`` (workspace-relative) as an artifact."""
    stem = Path(result.source_file).stem or "notebook"
    name = "runt-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "notebook")
    lines = [
        "- uses: actions/upload-artifact@v4",
        "  if: always()",
        "  with:",
        f"    name: {name}",
        "    path: |",
    ]
    # A block scalar keeps each line as it is: no YAML quoting needed (or wanted).
    lines += [f"      {' '.join(path.splitlines())}" for path in paths]
    return "\n".join(lines)


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


def _head(text: str, max_chars: int, max_lines: int) -> tuple[str, bool]:
    lines = text.rstrip("\n").split("\n")
    clipped = False
    if len(lines) > max_lines:
        lines, clipped = lines[:max_lines], True
    out = "\n".join(lines)
    if len(out) > max_chars:
        out, clipped = out[:max_chars], True
    return out, clipped


def _cell_rows(cells: Sequence[CellResult], budget: _Budget) -> Iterator[dict[str, Any]]:
    f = budget.field_chars
    for i, cell in enumerate(cells[: budget.max_cells], start=1):
        yield {
            "index": i,
            "id": _clip(cell.id, f),
            "icon": CELL_ICONS.get(cell.status, "❔"),
            "status": cell.status.value,
            "duration": Markup(format_duration(cell.duration_ms)) if cell.duration_ms else "",
            "attempts": cell.attempts,
            "note": _clip(cell_note(cell), f * 2),
        }


#: What GitHub's Mermaid renders (its maxTextSize and maxEdges); a bigger graph is named,
#: not drawn.
MERMAID_MAX_CHARS = 50_000
MERMAID_MAX_EDGES = 500


def _graph_view(result: RunResult) -> dict[str, Any] | None:
    """The code cells' dependency graph as a Mermaid block GitHub draws, or why it is not."""
    text = result.dependency_graph
    if not text or text.count("\n") < 2:  # "graph TD" and at most one cell: nothing to see
        return None
    edges = text.count("-->")
    if len(text) > MERMAID_MAX_CHARS or edges > MERMAID_MAX_EDGES:
        return {
            "text": None,
            "note": f"The dependency graph ({edges} edges, {len(text)} characters) is over "
            f"what GitHub draws ({MERMAID_MAX_EDGES} edges, {MERMAID_MAX_CHARS} characters).",
        }
    return {"text": text, "note": None}


def _error_view(result: RunResult, budget: _Budget) -> dict[str, Any] | None:
    found = first_error(result)
    if found is None:
        return None
    excerpt, clipped = _tail(
        found.traceback or found.message, budget.traceback_chars, budget.traceback_lines
    )
    return {
        "heading": found.heading,
        "cell_id": _clip(found.cell.id, budget.field_chars),
        "location": _clip(found.location, budget.field_chars * 2),
        "message": _clip(found.message, budget.field_chars * 3),
        "traceback": excerpt if found.traceback else "",
        "traceback_clipped": clipped,
        "hint": _clip(found.hint, budget.field_chars * 6),
    }


def _markdown_view(cell: CellResult, budget: _Budget) -> dict[str, Any] | None:
    from runt_action.report.markdown import contained_markdown

    source = cell.source or ""
    clipped = len(source) > budget.markdown_chars
    if clipped:
        source = source[: budget.markdown_chars] + "…"
    body = contained_markdown(demote_headings(strip_controls(source.replace("\r\n", "\n"))))
    if not body:
        return None
    return {"kind": "markdown", "body": Markup(body), "clipped": clipped}


#: The summary's own headings are ``##`` (the run) and ``###`` (its sections): a notebook's
#: headings go below them, ``#`` -> ``####`` (never past ``######``).
HEADING_SHIFT = 3
_ATX = re.compile(
    r"^((?:[ \t]*>)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)*[ \t]{0,3})"  # quotes, list items
    r"(#{1,6})(?=[ \t]|$)"
)


def demote_headings(source: str, shift: int = HEADING_SHIFT) -> str:
    """The markdown with every heading ``shift`` levels lower (at most ``######``), so a
    notebook's ``# Title`` does not outrank the summary's own title. ATX headings keep their
    place (in quotes and lists too); a top-level setext heading (``Title`` over ``===``)
    becomes an ATX one. Code blocks and everything else are left as they are."""
    if "#" not in source and "=" not in source and "-" not in source:
        return source
    lines: list[str | None] = list(source.split("\n"))
    changed = False
    for token in _heading_parser().parse(source):
        if token.type != "heading_open" or token.map is None:
            continue
        first, end = token.map
        level = min(int(token.tag[1:]) + shift, 6)
        line = lines[first]
        if token.markup.startswith("#") and line is not None:
            match = _ATX.match(line)
            if match is not None:
                lines[first] = match.group(1) + "#" * level + line[match.end() :]
                changed = True
        elif token.level == 0 and end - first >= 2:  # setext: text lines, then the underline
            text = " ".join((ln or "").strip() for ln in lines[first : end - 1])
            lines[first:end] = ["#" * level + " " + text] + [None] * (end - first - 1)
            changed = True
    if not changed:
        return source
    return "\n".join(ln for ln in lines if ln is not None)


@functools.cache
def _heading_parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _code_view(cell: CellResult, budget: _Budget) -> dict[str, Any]:
    f = budget.field_chars
    source, source_clipped = _head(cell.source or "", budget.source_chars, budget.source_lines)
    text = "".join(output_as_text(o) for o in cell.outputs)
    output, output_clipped = _tail(text, budget.output_chars, budget.output_lines)
    source, output = strip_controls(source), strip_controls(output)  # cut first: cheaper
    duration = format_duration(cell.duration_ms) if cell.duration_ms else ""
    count = len(cell.outputs)
    facts = [duration, f"{count} output{'s' if count != 1 else ''}" if count else "no output"]
    return {
        "kind": "code",
        "id": _clip(cell.id, f),
        "icon": CELL_ICONS.get(cell.status, "❔"),
        "status": cell.status.value,
        "facts": " · ".join(x for x in facts if x),
        "lang": "sql" if cell.cell_type == "sql" else "python" if cell.cell_type == "code" else "",
        "source": source if source.strip() else "",
        "source_clipped": source_clipped,
        "output": output if output.strip() else "",
        "output_clipped": output_clipped,
        "notes": [_clip(" ".join(n.split()), f * 2) for n in cell.notes],
        "reason": _clip(" ".join((cell.reason or "").split()), f * 2),
    }


def _notebook_view(result: RunResult, budget: _Budget) -> list[dict[str, Any]]:
    if not budget.notebook:
        return []
    views: list[dict[str, Any]] = []
    for cell in result.cells:
        if cell.cell_type == "markdown":
            view = _markdown_view(cell, budget)
            if view is not None:
                views.append(view)
        elif is_code_cell(cell):
            views.append(_code_view(cell, budget))
    return views


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _context(
    result: RunResult,
    budget: _Budget,
    shortened: bool,
    dropped: bool,
    problems: Sequence[str],
    github_actions: bool = False,
) -> dict[str, Any]:
    f = budget.field_chars
    cells = code_cells(result)
    link: Markup | str | None = None
    if result.notebook_url:
        link = md_link("Open the live notebook", result.notebook_url)
        if link is None:
            link = "Live notebook: " + _clip(result.notebook_url, f)
    params = sorted(result.parameters.items(), key=lambda kv: str(kv[0]))
    artifacts = [
        (label, shown_path(path, github_actions))
        for label, path in ([] if link else artifact_items(result.artifacts))
    ]
    return {
        "icon": RUN_ICONS.get(result.status.value, "❔"),
        "title": _clip(result.title or result.source_file, f),
        "link": link,
        "artifacts": [(label, _clip(path, f * 3)) for label, path in artifacts],
        "upload": upload_step(result, [p for _, p in artifacts])
        if github_actions and artifacts
        else "",
        "location_note": _clip(result.location_note or "", f * 2),
        "status": result.status.value,
        "counts": Markup(status_counts(cells)),  # our own words and numbers
        "duration": Markup(format_duration(result.duration_ms)),
        "runtime": _clip(
            result.runtime + (f" ({result.runtime_note})" if result.runtime_note else ""), 160
        ),
        "cells": list(_cell_rows(cells, budget)),
        "omitted_cells": max(len(cells) - budget.max_cells, 0),
        "graph": _graph_view(result),
        "error": _error_view(result, budget),
        "run_error": _clip(result.error, f * 10) if result.error else None,
        "problems": [_clip(p, f * 3) for p in problems],
        "parameters": [
            (_clip(str(k), 100), _clip(_param_value(v), f))
            for k, v in params[: budget.max_parameters]
        ],
        "omitted_parameters": max(len(params) - budget.max_parameters, 0),
        "notebook": _notebook_view(result, budget),
        "notebook_shortened": shortened and budget.notebook,
        "notebook_dropped": dropped,
        "timings": [
            (_clip(str(k), 60), Markup(format_duration(v)))
            for k, v in list(result.timings.items())[:50]
            if isinstance(v, int | float)
        ],
        "started_at": _clip(result.started_at, 60),
        "notebook_id": _clip(result.notebook_id, 100),
        "source_file": _clip(result.source_file, f),
    }


def render_summary(
    result: RunResult,
    *,
    scrubber: Scrubber | None = None,
    max_bytes: int = SUMMARY_LIMIT,
    problems: Sequence[str] = (),
    github_actions: bool = False,
) -> str:
    """The summary markdown, under ``max_bytes`` of UTF-8, with no secret of ``scrubber``.

    ``problems``: one line each about files that could not be written, shown near the top.
    ``github_actions``: files are named relative to the workspace, with an
    ``actions/upload-artifact`` step that publishes them.
    """
    scrubber = scrubber or Scrubber()
    result = scrub_result(result, scrubber)
    template = _ENV.get_template("summary.md.j2")
    text = ""
    for i, budget in enumerate(_BUDGETS):
        shortened = i > 0
        dropped = not budget.notebook and any(
            c.cell_type == "markdown" or is_code_cell(c) for c in result.cells
        )
        context = _context(result, budget, shortened, dropped, problems, github_actions)
        if i < len(_BUDGETS) - 1 and _lower_bound(context) > max_bytes:
            continue  # cannot fit: do not spend a render on it
        text = scrubber.text(template.render(context))
        if len(text.encode()) <= max_bytes:
            return text
    return _hard_cut(text, max_bytes)


def _lower_bound(context: dict[str, Any]) -> int:
    """Characters the rendered summary has at least: texts it prints unescaped or longer."""
    total = 0
    for item in context["notebook"]:
        if item["kind"] == "markdown":
            total += len(item["body"])
        else:
            total += len(item["source"]) + len(item["output"])
    for row in context["cells"]:
        total += len(strip_controls(row["id"])) + len(strip_controls(row["note"]))
    return total


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
        write_file(path, text)
