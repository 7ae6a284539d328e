"""The executed notebook as a real ``.ipynb`` (nbformat 4.5), like papermill leaves behind.

It carries every output (the summary only has excerpts), the execution counts, per-cell
``metadata.runt`` (status, duration, attempts) and run-level ``metadata.runt``. The
parameters cell is tagged ``parameters`` and ``injected-parameters`` so papermill-aware tools
recognise it. Written atomically.

Built from plain dicts coerced to what the nbformat 4.5 schema allows (cell ids, MIME values,
output types) and written exactly as nbformat writes it, without importing nbformat at run
time (see ``_nbformat_text``); the tests validate with nbformat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runt_action.report.files import write_file
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.results import CellOutput, CellResult, RunResult

__all__ = [
    "PARAMETERS_CELL_ID",
    "build_notebook",
    "notebook_json",
    "validate_notebook",
    "write_notebook",
]

PARAMETERS_CELL_ID = "parameters"
Notebook = dict[str, Any]  # the nbformat 4.5 JSON structure
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
        if _JSON_MIME.fullmatch(mime):
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


def _cell(cell: CellResult, seen: set[str]) -> Notebook:
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
    metadata: dict[str, Any] = {"runt": _jsonable(runt)}
    nb_id = _cell_id(cell.id, seen)
    source = _text(cell.source)
    if cell.cell_type in ("markdown", "raw"):
        return {"id": nb_id, "cell_type": cell.cell_type, "source": source, "metadata": metadata}
    # code, and sql / ai cells, which the runtime executes and which have outputs
    if cell.id == PARAMETERS_CELL_ID:
        metadata["tags"] = ["parameters", "injected-parameters"]
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


def build_notebook(result: RunResult) -> Notebook:
    """The executed notebook as a dict, valid nbformat 4.5 by construction."""
    seen: set[str] = set()
    kernel, display = _KERNELS.get(result.runtime, ("python3", "Python 3"))
    # A Jupyter input's own metadata (kernelspec, language_info, ...) wins; ours only for
    # "title" and "runt".
    kept = {k: v for k, v in result.ipynb_metadata.items() if k not in ("title", "runt")}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": [_cell(c, seen) for c in result.cells],
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": display, "language": "python"},
            "language_info": {"name": "python"},
            **kept,
            "title": _text(result.title),
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
    encoder = json.JSONEncoder(indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)
    yield from encoder.iterencode(nb)
    yield "\n"


def notebook_json(
    result: RunResult, *, scrubber: Scrubber | None = None, validate: bool = False
) -> str:
    """The file's text, byte for byte as ``nbformat.writes`` writes it.

    Valid nbformat 4.5 by construction (the builder coerces every value to what the schema
    allows); ``validate=True`` also checks it with nbformat (tests, debugging).
    """
    scrubber = scrubber or Scrubber()
    built = scrubber.deep(build_notebook(scrub_result(result, scrubber)))
    if validate:
        validate_notebook(built)
    return _nbformat_text(built)


def write_notebook(
    path: Path, result: RunResult, *, scrubber: Scrubber | None = None, validate: bool = False
) -> None:
    """Replace ``path`` atomically (streamed, see ``_nbformat_pieces``)."""
    scrubber = scrubber or Scrubber()
    built = scrubber.deep(build_notebook(scrub_result(result, scrubber)))
    if validate:
        validate_notebook(built)
    write_file(path, _nbformat_pieces(built))
