"""A suite's reports from its records: the job summary (one table), the terminal table, the
index HTML linking every notebook's report, and the step outputs.

Every value shown is user-controlled (paths, error messages), so Markdown goes through
``escape_md`` and HTML through ``html.escape``; the records are already scrubbed of secrets and
the final texts are scrubbed once more.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence

from runt_action.report.escape import code_span, escape_md, link_md
from runt_action.report.live import format_duration
from runt_action.report.records import EntryRecord
from runt_action.report.scrub import Scrubber

__all__ = [
    "render_index_html",
    "render_suite_summary",
    "render_suite_text",
    "suite_outputs",
    "worst",
]

# A notebook the batch never started (-x) is shown, but makes the verdict no worse.
_SEVERITY = {"not-run": 0, "success": 0, "failed": 1, "cancelled": 2, "error": 3}
_SYMBOLS = {"success": "✅", "failed": "❌", "error": "⚠️", "cancelled": "⊘", "not-run": "⏭️"}
_ERROR_CHARS = 120
_PASSED = ("success", "allowed-error")


def _code(text: str) -> str:
    """A code span for a table cell: a ``|`` escaped (GFM honours ``\\|`` inside code too)."""
    return code_span(text).replace("|", "\\|")


def worst(entries: Sequence[EntryRecord]) -> str:
    return max((e.status for e in entries), key=lambda s: _SEVERITY.get(s, 3), default="success")


def counts(entries: Sequence[EntryRecord]) -> Counter[str]:
    return Counter(e.status for e in entries)


def cells_text(entry: EntryRecord) -> str:
    """``4/5 passed, 1 failed, 2 skipped`` (markdown and raw cells are not counted)."""
    tests = [c for c in entry.cells if c.status != "not-executed"]
    by = Counter(c.status for c in tests)
    passed = sum(by[s] for s in _PASSED)
    parts = [f"{passed}/{len(tests)} passed"]
    parts += [f"{by[s]} {s}" for s in ("failed", "timeout", "cancelled", "skipped") if by[s]]
    return ", ".join(parts)


def _error(entry: EntryRecord) -> str:
    text = entry.first_error or entry.error or ""
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _headline(entries: Sequence[EntryRecord]) -> str:
    by = counts(entries)
    kinds = ("success", "failed", "error", "cancelled", "not-run")
    parts = [f"{by[s]} {s}" for s in kinds if by[s]]
    return ", ".join(parts) or "nothing ran"


def render_suite_summary(
    entries: Sequence[EntryRecord],
    *,
    title: str = "Notebook suite",
    report_root: str = "runt-output",
    scrubber: Scrubber | None = None,
    note: str = "",
) -> str:
    """GitHub-flavoured Markdown: the verdict, then one row per notebook."""
    scrubber = scrubber or Scrubber()
    status = worst(entries)
    lines = [
        f"## {_SYMBOLS.get(status, '')} {escape_md(title)}: {len(entries)} notebooks",
        "",
        f"**{escape_md(status)}**: {escape_md(_headline(entries))} "
        f"in {escape_md(format_duration(sum(e.duration_ms for e in entries)))}",
        "",
        "| notebook | status | cells | duration | first error | report |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        where = f"{e.source_file}:{e.error_line}" if e.error_line else ""
        error = escape_md(_error(e)) + (f" ({_code(where)})" if where else "")
        report = e.html or e.ipynb
        shown = _code(f"{report_root}/{report}") if report else ""
        cells = [
            (link_md(e.name, e.notebook_url) if e.notebook_url else None) or escape_md(e.name),
            f"{_SYMBOLS.get(e.status, '')} {escape_md(e.status)}",
            escape_md(cells_text(e)),
            escape_md(format_duration(e.duration_ms)),
            error,
            shown,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Each notebook's executed .ipynb and HTML report are in {_code(report_root + '/')} "
        f"(its index.html links them all); publish that folder with actions/upload-artifact.",
    ]
    if note:
        lines += ["", escape_md(note)]
    return scrubber.text("\n".join(lines) + "\n")


def render_suite_text(entries: Sequence[EntryRecord], *, title: str = "suite") -> str:
    """The same table as plain text, for a terminal."""
    header = ["notebook", "status", "cells", "duration", "first error"]
    body = [
        [e.name, e.status, cells_text(e), format_duration(e.duration_ms), _error(e)]
        for e in entries
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    out = [f"{title}: {len(entries)} notebooks, {worst(entries)} ({_headline(entries)})"]
    for line in (header, *body):
        out.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


_INDEX_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;"
    "padding:.35em .6em;text-align:left;vertical-align:top}.success{color:#1a7f37}"
    ".failed,.error{color:#cf222e}.cancelled{color:#9a6700}code{font-size:90%}"
)


def render_index_html(
    entries: Sequence[EntryRecord], *, title: str = "Notebook suite", hrefs: Sequence[str] = ()
) -> str:
    """A static page linking every report (``hrefs``: each entry's link, relative to the
    page; default its own html/ipynb). No script, no network: a strict CSP, as the reports."""
    e_ = html.escape
    rows = []
    for i, e in enumerate(entries):
        href = hrefs[i] if i < len(hrefs) else (e.html or e.ipynb or "")
        name = f'<a href="{e_(href)}">{e_(e.name)}</a>' if href else e_(e.name)
        rows.append(
            f'<tr><td>{name}</td><td class="{e_(e.status)}">{e_(e.status)}</td>'
            f"<td>{e_(cells_text(e))}</td><td>{e_(format_duration(e.duration_ms))}</td>"
            f"<td><code>{e_(_error(e))}</code></td></tr>"
        )
    status = worst(entries)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{e_(title)}: {e_(status)}</title><style>{_INDEX_CSS}</style></head><body>"
        f'<h1>{e_(title)}</h1><p class="{e_(status)}"><strong>{e_(status)}</strong>: '
        f"{e_(_headline(entries))}, {len(entries)} notebooks</p>"
        "<table><thead><tr><th>notebook</th><th>status</th><th>cells</th><th>duration</th>"
        "<th>first error</th></tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></body></html>\n"
    )


def suite_outputs(
    entries: Sequence[EntryRecord], *, junit_xml: str = "", results_file: str = ""
) -> dict[str, str]:
    """The action's step outputs for a suite (``results``: one object per notebook)."""
    results = [
        {
            "notebook": e.name,
            "path": e.path,
            "status": e.status,
            "notebook-id": e.notebook_id,
            "notebook-url": e.notebook_url,
            "duration-ms": round(e.duration_ms),
            "cells": cells_text(e),
            "first-error": e.first_error or e.error or "",
            "html": e.html,
            "ipynb": e.ipynb,
        }
        for e in entries
    ]
    failed_cells = [
        f"{e.name}:{c.id}" for e in entries for c in e.cells if c.status in ("failed", "timeout")
    ]
    return {
        "notebook-id": ",".join(e.notebook_id for e in entries if e.notebook_id),
        "notebook-url": ",".join(e.notebook_url for e in entries if e.notebook_url),
        "status": worst(entries),
        "failed-cells": ",".join(failed_cells),
        "failed-notebooks": ",".join(
            e.name for e in entries if e.status in ("failed", "error", "cancelled")
        ),
        "duration-ms": str(round(sum(e.duration_ms for e in entries))),
        "results": json.dumps(results, ensure_ascii=False),
        "junit-xml": junit_xml,
        "results-file": results_file,
    }
