"""A sweep's summary: one comparison table, a row per parameter set, and its step outputs.

Every value shown (parameters, results, statuses) is user-controlled text, so it goes through
the same escaping and secret scrubbing as the single-run summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runt_action.report.escape import escape_md
from runt_action.report.live import format_duration
from runt_action.report.outputs import _cell_json
from runt_action.report.scrub import Scrubber
from runt_action.results import RunResult, RunStatus

__all__ = ["SweepRow", "render_sweep_summary", "render_sweep_text", "sweep_outputs"]

_SEVERITY = {RunStatus.SUCCESS: 0, RunStatus.FAILED: 1, RunStatus.CANCELLED: 2, RunStatus.ERROR: 3}
_VALUE_CHARS = 60
_SYMBOLS = {"success": "✅", "failed": "❌", "error": "⚠️", "cancelled": "⊘"}


@dataclass(slots=True)
class SweepRow:
    label: str
    parameters: dict[str, Any]  # this set's values (secrets masked)
    result: RunResult
    ipynb: Path | None
    result_cells: Sequence[str] = ()  # ids of the cells marked `result: true`


def worst_status(rows: Sequence[SweepRow]) -> RunStatus:
    return max((r.result.status for r in rows), key=_SEVERITY.__getitem__)


def result_value(result: RunResult, cell_id: str) -> str:
    """The cell's last expression, as text/plain (empty when it has none)."""
    for cell in result.cells:
        if cell.id == cell_id:
            for out in reversed(cell.outputs):
                if out.output_type == "execute_result":
                    return str(out.data.get("text/plain", ""))
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _param_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items())


def render_sweep_summary(
    title: str, rows: Sequence[SweepRow], *, scrubber: Scrubber | None = None
) -> str:
    """GitHub-flavoured Markdown: status, then the comparison table."""
    scrubber = scrubber or Scrubber()
    status = worst_status(rows)
    names = list(rows[0].result_cells) if rows else []
    lines = [
        f"## {_SYMBOLS.get(status.value, '')} {escape_md(title)}: sweep of {len(rows)}",
        "",
        f"**{escape_md(status.value)}** (the worst of the runs)",
        "",
    ]
    header = ["set", "parameters", "status", "duration", *(f"`{escape_md(n)}`" for n in names)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for row in rows:
        r = row.result
        cells = [
            escape_md(row.label),
            escape_md(_short(_param_text(row.parameters))),
            f"{_SYMBOLS.get(r.status.value, '')} {escape_md(r.status.value)}",
            escape_md(format_duration(r.duration_ms)),
            *(escape_md(_short(result_value(r, n))) for n in names),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    files = [row.ipynb for row in rows if row.ipynb is not None]
    if files:
        lines += ["", f"Each set's executed notebook is in {escape_md(str(files[0].parent))}"]
    return scrubber.text("\n".join(lines) + "\n")


def render_sweep_text(title: str, rows: Sequence[SweepRow]) -> str:
    """The same table as plain text, for a terminal."""
    names = list(rows[0].result_cells) if rows else []
    header = ["set", "parameters", "status", "duration", *names]
    body = [
        [
            row.label,
            _short(_param_text(row.parameters)),
            row.result.status.value,
            format_duration(row.result.duration_ms),
            *(_short(result_value(row.result, n)) for n in names),
        ]
        for row in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    out = [f"{title}: sweep of {len(rows)}, {worst_status(rows).value}"]
    for line in (header, *body):
        out.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
    return "\n".join(out) + "\n"


def sweep_outputs(rows: Sequence[SweepRow]) -> dict[str, str]:
    """The action's outputs for a sweep: ``results`` is a list with one entry per set."""
    results = [
        {
            "set": row.label,
            "parameters": row.parameters,
            "status": row.result.status.value,
            "notebook-id": row.result.notebook_id,
            "duration-ms": round(row.result.duration_ms),
            "results": {n: result_value(row.result, n) for n in row.result_cells},
            "cells": [_cell_json(c) for c in row.result.cells],
        }
        for row in rows
    ]
    failed = [f"{row.label}:{c.id}" for row in rows for c in row.result.failed_cells]
    return {
        "notebook-id": ",".join(row.result.notebook_id for row in rows),
        "notebook-url": "",
        "status": worst_status(rows).value,
        "failed-cells": ",".join(failed),
        "duration-ms": str(round(sum(r.result.duration_ms for r in rows))),
        "results": json.dumps(results, ensure_ascii=False),
    }
