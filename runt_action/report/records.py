"""A suite's results as plain records: what the JSON results file, the JUnit XML, the suite
summary and ``combine`` all read, so a shard's files merge without re-running anything.

The results file (``runt-results.json`` in the suite's output directory) is documented in the
README ("Results file"). Version 1::

    {"format": "runt-results", "version": 1, "shard": "1/1", "started_at": ISO,
     "entries": [{"name", "path", "label", "source_file", "status", "duration_ms",
                  "started_at", "notebook_id", "error", "first_error", "error_line",
                  "ipynb", "html", "cells": [{"id", "status", "duration_ms", "line",
                  "reason", "message", "traceback", "stdout", "stderr"}]}]}

``ipynb``/``html`` are relative to the file's directory. Every text is scrubbed of secrets
and free of ANSI escapes when the record is made.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runt_action.errors import UsageError
from runt_action.masking import strip_ansi
from runt_action.report.scrub import Scrubber
from runt_action.results import CellResult, CellStatus, RunResult

__all__ = [
    "NOT_RUN",
    "RESULTS_FILE",
    "CellRecord",
    "EntryRecord",
    "SuiteRecord",
    "entry_record",
    "read_results",
    "write_results",
]

RESULTS_FILE = "runt-results.json"
NOT_RUN = "not-run"  # an entry's status when the batch never started it
FORMAT = "runt-results"
VERSION = 1


@dataclass(slots=True)
class CellRecord:
    id: str
    status: str
    duration_ms: float = 0.0
    line: int | None = None
    reason: str | None = None
    message: str | None = None  # "ValueError: boom" of a failed cell
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""


@dataclass(slots=True)
class EntryRecord:
    name: str  # "nb/a.yml" or "nb/a.yml [2-n-3]"
    path: str  # the notebook, relative to the suite's root (JUnit classname)
    label: str | None  # the sweep set, if any
    source_file: str
    status: str
    duration_ms: float
    started_at: str = ""
    notebook_id: str = ""
    notebook_url: str = ""  # the live notebook on the runt service ("" on the embedded one)
    error: str | None = None  # the run's own error (runtime died, timeout, not run)
    first_error: str | None = None  # "ValueError: boom" of the first failed cell
    error_line: int | None = None  # the line of the first failed cell in the source file
    ipynb: str | None = None
    html: str | None = None
    cells: list[CellRecord] = field(default_factory=list)


@dataclass(slots=True)
class SuiteRecord:
    entries: list[EntryRecord]
    shard: str = "1/1"
    started_at: str = ""


def entry_record(
    *,
    name: str,
    path: str,
    label: str | None,
    result: RunResult,
    out_dir: Path,
    ipynb: Path | None,
    html: Path | None,
    scrubber: Scrubber,
    started: bool = True,
) -> EntryRecord:
    """``started=False``: the batch never started it (``-x``, a signal): status ``not-run``."""
    from runt_action.report.annotations import cell_error_message, error_line

    def text(value: str | None) -> str | None:
        return None if value is None else scrubber.text(strip_ansi(value))

    failed = result.failed_cells
    return EntryRecord(
        name=name,
        path=path,
        label=label,
        source_file=result.source_file,
        status=result.status.value if started else NOT_RUN,
        duration_ms=round(result.duration_ms, 1),
        started_at=result.started_at,
        notebook_id=result.notebook_id,
        notebook_url=result.notebook_url or "",
        error=text(result.error),
        first_error=text(cell_error_message(failed[0])) if failed else None,
        error_line=error_line(failed[0]) if failed else None,
        ipynb=_relative(ipynb, out_dir),
        html=_relative(html, out_dir),
        cells=[_cell(c, text) for c in result.cells if c.cell_type != "markdown"],
    )


def _cell(cell: CellResult, text: Any) -> CellRecord:
    from runt_action.report.annotations import cell_error_message, error_line

    error = next((o for o in cell.outputs if o.output_type == "error"), None)
    failed = cell.status in (CellStatus.FAILED, CellStatus.TIMEOUT, CellStatus.ALLOWED_ERROR)
    streams = {"stdout": "", "stderr": ""}
    for out in cell.outputs:
        if out.output_type == "stream" and out.name in streams:
            streams[out.name] += out.text or ""
    return CellRecord(
        id=cell.id,
        status=cell.status.value,
        duration_ms=round(cell.duration_ms, 1),
        line=error_line(cell) if failed else cell.line,
        reason=text(cell.reason),
        message=text(cell_error_message(cell)) if failed else None,
        traceback=text("\n".join(error.traceback)) or "" if error is not None else "",
        stdout=text(streams["stdout"]) or "",
        stderr=text(streams["stderr"]) or "",
    )


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return Path(os.path.relpath(path.absolute(), root.absolute())).as_posix()
    except ValueError:  # another drive
        return str(path)


def write_results(path: Path, suite: SuiteRecord) -> None:
    from runt_action.report.files import write_text_atomic

    data = {"format": FORMAT, "version": VERSION, **asdict(suite)}
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def read_results(path: Path) -> SuiteRecord:
    """A results file written by :func:`write_results`; anything else is bad input."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the results file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f'{path}: not a runt results file (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise UsageError(f"{path}: results file version {data.get('version')!r} (expected 1)")
    try:
        entries = [
            EntryRecord(**{**e, "cells": [CellRecord(**c) for c in e.get("cells", [])]})
            for e in data["entries"]
        ]
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path}: malformed results file ({exc})") from None
    return SuiteRecord(
        entries, shard=data.get("shard", "1/1"), started_at=data.get("started_at", "")
    )
