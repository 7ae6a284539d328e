"""Step outputs, appended to ``GITHUB_OUTPUT`` in the multi-line file-command format.

Every value uses ``name<<DELIMITER`` with a fresh random delimiter (as actions/toolkit does),
so no value, however hostile, can end early and smuggle in another output.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runt_action.report.scrub import Scrubber
from runt_action.results import CellResult, RunResult

__all__ = ["cell_results_json", "format_outputs", "step_outputs", "write_outputs"]


def _delimiter(name: str, value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in value and delimiter not in name:
            return delimiter


def format_outputs(values: Mapping[str, str]) -> str:
    """The text to append to ``GITHUB_OUTPUT`` for ``values``."""
    chunks = []
    for name, value in values.items():
        if not name or "\n" in name or "\r" in name or "<<" in name or "=" in name:
            raise ValueError(f"invalid output name {name!r}")
        delimiter = _delimiter(name, value)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def _cell_json(cell: CellResult) -> dict[str, Any]:
    error = next((o for o in cell.outputs if o.output_type == "error"), None)
    return {
        "id": cell.id,
        "type": cell.cell_type,
        "status": cell.status.value,
        "duration_ms": round(cell.duration_ms, 3),
        "attempts": cell.attempts,
        "execution_count": cell.execution_count,
        "line": cell.line,
        "reason": cell.reason,
        "error": None if error is None else {"ename": error.ename, "evalue": error.evalue},
        "notes": list(cell.notes),
    }


def cell_results_json(result: RunResult) -> str:
    return json.dumps([_cell_json(c) for c in result.cells], ensure_ascii=False)


def step_outputs(result: RunResult) -> dict[str, str]:
    """The action's outputs, as strings (GitHub outputs are always strings)."""
    return {
        "notebook-id": result.notebook_id,
        "notebook-url": result.notebook_url or "",
        "status": result.status.value,
        "failed-cells": ",".join(c.id for c in result.failed_cells),
        "duration-ms": str(round(result.duration_ms)),
        "results": cell_results_json(result),
    }


def write_outputs(path: Path, result: RunResult, *, scrubber: Scrubber | None = None) -> None:
    """Append the outputs to the ``GITHUB_OUTPUT`` file; secrets never reach it."""
    scrubber = scrubber or Scrubber()
    values = {k: scrubber.text(v) for k, v in step_outputs(result).items()}
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(format_outputs(values))
