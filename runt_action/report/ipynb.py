"""The executed notebook as a real ``.ipynb`` (nbformat 4.5), like papermill leaves behind.

It carries every output (the summary only has excerpts), the execution counts, per-cell
``metadata.runt`` (status, duration, attempts) and run-level ``metadata.runt``. The injected
parameters cell is tagged ``injected-parameters``, as papermill tags it. Written atomically.

A Jupyter input comes back as papermill would return it: every cell's metadata and the
notebook's metadata as they came in (our own record under ``runt``; an earlier execution's
``papermill`` and ``execution`` records replaced), ``language_info`` from the runtime when it is
known, and papermill's record, ``metadata.papermill`` for the notebook (``parameters`` given,
``default_parameters``, ``input_path``, ``output_path``, ``start_time``, ``end_time``,
``duration``, ``exception``, ``environment_variables`` {} and ``version``, which is runt
automate's version, not papermill's) and for each cell (``status`` completed / failed / pending
/ running, ``exception``, ``start_time``, ``end_time``, ``duration``).

Built from plain dicts coerced to what the nbformat 4.5 schema allows (cell ids, MIME values,
output types) and written exactly as nbformat writes it, without importing nbformat at run
time (see ``_nbformat_text``); the tests validate with nbformat.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runt_action import __version__
from runt_action.blobs import BlobText
from runt_action.report.files import write_file
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult, RunStatus

__all__ = [
    "PARAMETERS_CELL_ID",
    "build_notebook",
    "notebook_json",
    "validate_notebook",
    "write_notebook",
]

PARAMETERS_CELL_ID = "parameters"
INJECTED_TAG = "injected-parameters"
Notebook = dict[str, Any]  # the nbformat 4.5 JSON structure
# The keys a run writes in a cell's metadata.runt (an input's options there are kept).
_RESULT_KEYS = frozenset(
    {
        "id",
        "cell_type",
        "status",
        "duration_ms",
        "attempts",
        "reason",
        "notes",
        "line",
        "ai",
        "created_by",
    }
)
# A cell's record of an earlier execution: replaced by this run's, never kept stale.
_STALE_CELL_KEYS = ("papermill", "execution")
_PM_FAILED = frozenset({CellStatus.FAILED, CellStatus.TIMEOUT, CellStatus.CANCELLED})
_PM_COMPLETED = frozenset({CellStatus.SUCCESS, CellStatus.ALLOWED_ERROR})
_ID_OK = re.compile(r"[^a-zA-Z0-9_-]")
_JSON_MIME = re.compile(r"application/(.*\+)?json")
_KERNELS = {
    "pyodide": ("python3", "Python 3 (Pyodide)"),
    "python": ("python3", "Python 3 (ipykernel)"),
}


def _jsonable(value: Any) -> Any:
    """Parameters may hold anything YAML can; metadata must be JSON."""
    return json.loads(json.dumps(value, default=str))


def _json_object(value: Any) -> dict[str, Any]:
    value = _jsonable(value)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _count(value: Any) -> int | None:
    """An execution count as the schema allows: a non-negative int, or null."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _multiline(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _mimebundle(data: Any) -> dict[str, Any]:
    """nbformat wants strings for every MIME type except the JSON ones."""
    bundle: dict[str, Any] = {}
    if not isinstance(data, dict):
        return bundle
    for mime, value in data.items():
        if not isinstance(mime, str):
            continue
        if isinstance(value, BlobText):  # a large restored artifact: streamed when written
            from runt_action.report.streamed_json import marker_for

            bundle[mime] = marker_for(value)
        elif _JSON_MIME.fullmatch(mime):
            bundle[mime] = _jsonable(value)
        elif "/" in mime:
            bundle[mime] = _multiline(value)
    return bundle


def _coalesce(outputs: list[CellOutput]) -> list[CellOutput]:
    """Consecutive chunks of one stream become one output, as Jupyter front ends show them."""
    merged: list[CellOutput] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            out.output_type == "stream"
            and prev is not None
            and prev.output_type == "stream"
            and prev.name == out.name
        ):
            merged[-1] = CellOutput(
                "stream", name=prev.name, text=(prev.text or "") + (out.text or "")
            )
        else:
            merged.append(out)
    return merged


def _output(out: CellOutput, cell: CellResult) -> Notebook | None:
    kind = out.output_type
    if kind == "stream":
        name = out.name if out.name in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(out.text)}
    if kind == "error":
        return {
            "output_type": "error",
            "ename": _text(out.ename) or "Error",
            "evalue": _text(out.evalue),
            "traceback": [str(t) for t in out.traceback or ()],
        }
    if kind in ("display_data", "execute_result"):
        made: Notebook = {
            "output_type": kind,
            "data": _mimebundle(out.data),
            "metadata": _json_object(out.metadata),
        }
        if kind == "execute_result":
            count = out.execution_count if out.execution_count is not None else cell.execution_count
            made["execution_count"] = _count(count)
        return made
    return None  # an output type nbformat does not know is dropped, not invented


def _cell_id(raw: str, seen: set[str]) -> str:
    """nbformat 4.5 ids are 1-64 chars of [a-zA-Z0-9_-] and unique; YAML ids may be anything."""
    base = _ID_OK.sub("-", raw)[:56] or "cell"
    candidate, n = base, 1
    while candidate in seen:
        n += 1
        candidate = f"{base}-{n}"
    seen.add(candidate)
    return candidate


def _pm_time(text: str | None) -> str | None:
    """An ISO time as papermill writes it (UTC, ``+00:00``); None stays None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _pm_state(cell: CellResult) -> str:
    """papermill's cell status: completed, failed, running (a checkpoint) or pending."""
    if cell.status in _PM_FAILED:
        return "failed"
    if cell.status in _PM_COMPLETED:
        return "completed"
    if cell.status == CellStatus.SKIPPED and cell.started_at and cell.reason is None:
        return "running"  # a checkpoint: started, not concluded
    return "pending"  # never executed: skipped, not reached


def _pm_states(result: RunResult) -> list[str]:
    """Each cell's papermill status. A markdown or raw cell is "completed" once the run went
    past it (as papermill's loop does), "pending" when the run stopped before it."""
    states = [_pm_state(c) if c.status != CellStatus.NOT_EXECUTED else "" for c in result.cells]
    ran_after = False  # a later executable cell started
    failed_before = [False] * len(states)
    seen_failure = False
    for i, state in enumerate(states):
        failed_before[i] = seen_failure
        seen_failure = seen_failure or state == "failed"
    finished = result.status != RunStatus.RUNNING
    for i in range(len(states) - 1, -1, -1):
        if states[i] in ("completed", "failed", "running") and result.cells[i].started_at:
            ran_after = True
        elif not states[i]:
            reached = ran_after or (finished and not failed_before[i])
            states[i] = "completed" if reached else "pending"
    return states


def _pm_cell(cell: CellResult, state: str) -> dict[str, Any]:
    """A cell's ``metadata.papermill``, in papermill's shape."""
    ran = state in ("completed", "failed", "running") and bool(cell.started_at)
    ended = ran and state != "running"
    return {
        "exception": None if state == "pending" else state == "failed",
        "start_time": _pm_time(cell.started_at) if ran else None,
        "end_time": _pm_time(cell.completed_at) if ended else None,
        "duration": round(cell.duration_ms / 1000, 6) if ended else None,
        "status": state,
    }


def _pm_notebook(result: RunResult, states: list[str], output_path: str | None) -> dict[str, Any]:
    """The notebook's ``metadata.papermill``, in papermill's shape (papermill's iorw and
    engines write the same keys); ``version`` is runt automate's."""
    start = _pm_time(result.started_at)
    finished = result.status != RunStatus.RUNNING
    end: str | None = None
    if finished and start is not None:
        with contextlib.suppress(ValueError):  # _pm_time keeps a time it cannot read
            moment = datetime.fromisoformat(start) + timedelta(milliseconds=result.duration_ms)
            end = moment.isoformat()
    given = result.given_parameters if result.given_parameters is not None else result.parameters
    return {
        "default_parameters": _json_object(result.default_parameters),
        "parameters": _json_object(given),
        "environment_variables": {},
        "version": __version__,
        "input_path": result.source_file,
        "output_path": output_path,
        "start_time": start,
        "end_time": end,
        "duration": round(result.duration_ms / 1000, 6) if finished else None,
        "exception": "failed" in states,
    }


def _kept_metadata(given: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """An input cell's metadata minus an earlier run's records, and its ``runt`` options."""
    kept = _json_object(given or {})
    for key in _STALE_CELL_KEYS:
        kept.pop(key, None)
    old = kept.pop("runt", None)
    options = (
        {k: v for k, v in old.items() if k not in _RESULT_KEYS} if isinstance(old, dict) else {}
    )
    return kept, options


def _cell(
    cell: CellResult,
    seen: set[str],
    given: Mapping[str, Any] | None = None,
    papermill: dict[str, Any] | None = None,
) -> Notebook:
    runt: dict[str, Any] = {
        "id": cell.id,
        "cell_type": cell.cell_type,
        "status": cell.status.value,
        "duration_ms": round(cell.duration_ms, 3),
        "attempts": cell.attempts,
    }
    if cell.reason:
        runt["reason"] = cell.reason
    if cell.notes:
        runt["notes"] = list(cell.notes)
    if cell.line is not None:
        runt["line"] = cell.line
    if cell.ai is not None:
        runt["ai"] = cell.ai  # model, response ids, token usage, latency
    if cell.created_by is not None:
        runt["created_by"] = cell.created_by
    if cell.sql is not None:
        runt["sql"] = dict(cell.sql)
    metadata, options = _kept_metadata(given)
    metadata["runt"] = _jsonable({**options, **runt})
    if papermill is not None:
        metadata["papermill"] = papermill
    nb_id = _cell_id(cell.id, seen)
    source = _text(jupysql_source(cell) if cell.cell_type == "sql" else cell.source)
    if cell.cell_type in ("markdown", "raw"):
        return {"id": nb_id, "cell_type": cell.cell_type, "source": source, "metadata": metadata}
    # code, and sql / ai cells, which the runtime executes and which have outputs
    if cell.id == PARAMETERS_CELL_ID and given is None:
        metadata["tags"] = [INJECTED_TAG]  # papermill's tag (its `parameters` cell stays as is)
    execution = {
        k: v
        for k, v in (
            ("shell.execute_reply.started", cell.started_at),
            ("shell.execute_reply", cell.completed_at),
        )
        if v
    }
    if execution:
        metadata["execution"] = {k: _text(v) for k, v in execution.items()}
    outputs = [o for o in (_output(x, cell) for x in _coalesce(cell.outputs)) if o]
    return {
        "id": nb_id,
        "cell_type": "code",
        "source": source,
        "metadata": metadata,
        "execution_count": _count(cell.execution_count),
        "outputs": outputs,
    }


def jupysql_source(cell: CellResult) -> str:
    """A SQL cell as jupysql's ``%%sql`` cell, so Jupyter opens and reruns it as SQL (the
    connection is in the cell's ``runt.sql`` metadata: jupysql names connections its way)."""
    variable = (cell.sql or {}).get("variable")
    head = f"%%sql {variable} <<" if variable else "%%sql"
    return f"{head}\n{cell.source}"


def build_notebook(result: RunResult, *, output_path: str | Path | None = None) -> Notebook:
    """The executed notebook as a dict, valid nbformat 4.5 by construction; ``output_path``
    is where it is written (papermill's ``output_path``)."""
    seen: set[str] = set()
    kernel, display = _KERNELS.get(result.runtime, ("python3", "Python 3"))
    # A Jupyter input's own metadata (kernelspec, language_info, ...) wins; ours only for
    # "runt", "papermill", language_info when the runtime reported it, and a YAML notebook's
    # "title" (a Jupyter notebook's title, or its absence, stays as it came).
    kept = {k: v for k, v in result.ipynb_metadata.items() if k not in ("runt", "papermill")}
    if not result.ipynb_input or "title" in kept:
        kept["title"] = _text(result.title)
    if result.language_info:
        kept["language_info"] = _json_object(result.language_info)
    states = _pm_states(result)
    cells = [
        _cell(c, seen, result.cell_metadata.get(c.id), _pm_cell(c, state))
        for c, state in zip(result.cells, states, strict=True)
    ]
    papermill = _pm_notebook(result, states, str(output_path) if output_path else None)
    # What its SQL cells connect to (never a URL from the environment): they run again from it.
    sql = {"sql_connections": result.sql_connections} if result.sql_connections else {}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": display, "language": "python"},
            "language_info": {"name": "python"},
            **kept,
            "papermill": papermill,
            "runt": _jsonable(
                {
                    "notebook_id": result.notebook_id,
                    "url": result.notebook_url,
                    "status": result.status.value,
                    "started_at": result.started_at,
                    "duration_ms": round(result.duration_ms, 3),
                    "parameters": result.parameters,
                    "source_file": result.source_file,
                    "runtime": result.runtime,
                    "error": result.error,
                    "timings": result.timings,
                    **sql,
                }
            ),
        },
    }


def validate_notebook(nb: Notebook) -> None:
    """``nbformat.validate`` (raises ``nbformat.ValidationError``)."""
    import nbformat

    nbformat.validate(nbformat.from_dict(nb))  # type: ignore[no-untyped-call]


# What nbformat's v4 writer does before json.dumps (nbformat.v4.rwbase: split_lines, then
# strip_transient), mirrored so that a run never imports nbformat: its import and schema
# compile cost ~0.17 s of every run (measured, docs/benchmarks.md). The bytes are nbformat's:
# tests/report/test_ipynb.py compares them with nbformat.writes and validates every shape.
_SPLIT_MIMES = frozenset({"image/svg+xml", "application/javascript"})


def _split_bundle(data: dict[str, Any]) -> None:
    for key, value in list(data.items()):
        if isinstance(value, str) and (key.startswith("text/") or key in _SPLIT_MIMES):
            data[key] = value.splitlines(True)


def _nbformat_text(nb: dict[str, Any]) -> str:
    """``nb`` (ours, mutated) as ``nbformat.writes`` would write it."""
    return "".join(_nbformat_pieces(nb))


def _nbformat_pieces(nb: dict[str, Any]) -> Iterator[str]:
    """The same text in pieces (the indented encoder is pure Python: joining its half a
    million pieces for a 2000-cell notebook cost ~7 MB of peak memory; written as they come,
    they cost nothing)."""
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
        nb["metadata"].pop(key, None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("trusted", None)
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
        for attachment in cell.get("attachments", {}).values():
            _split_bundle(attachment)
        if cell.get("cell_type") == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") in ("execute_result", "display_data"):
                    _split_bundle(out.get("data", {}))
                elif out.get("output_type") == "stream" and isinstance(out.get("text"), str):
                    out["text"] = out["text"].splitlines(True)
    from runt_action.report.streamed_json import splice

    encoder = json.JSONEncoder(indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)
    yield from splice(encoder.iterencode(nb))  # a large value streamed from its file
    yield "\n"


def notebook_json(
    result: RunResult,
    *,
    scrubber: Scrubber | None = None,
    validate: bool = False,
    output_path: str | Path | None = None,
) -> str:
    """The file's text, byte for byte as ``nbformat.writes`` writes it.

    Valid nbformat 4.5 by construction (the builder coerces every value to what the schema
    allows); ``validate=True`` also checks it with nbformat (tests, debugging).
    """
    scrubber = scrubber or Scrubber()
    built = scrubber.deep(build_notebook(scrub_result(result, scrubber), output_path=output_path))
    if validate:
        validate_notebook(built)
    return _nbformat_text(built)


def write_notebook(
    path: Path, result: RunResult, *, scrubber: Scrubber | None = None, validate: bool = False
) -> None:
    """Replace ``path`` atomically (streamed, see ``_nbformat_pieces``)."""
    scrubber = scrubber or Scrubber()
    built = scrubber.deep(build_notebook(scrub_result(result, scrubber), output_path=path))
    if validate:
        validate_notebook(built)
    write_file(path, _nbformat_pieces(built))
