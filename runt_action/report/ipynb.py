"""The executed notebook as a real ``.ipynb`` (nbformat 4.5), like papermill leaves behind.

It carries every output (the summary only has excerpts), the execution counts, per-cell
``metadata.runt`` (status, duration, attempts) and run-level ``metadata.runt``. The
parameters cell is tagged ``parameters`` and ``injected-parameters`` so papermill-aware tools
recognise it. Written atomically after ``nbformat.validate`` passes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat as _nbformat
from nbformat import v4 as _v4

from runt_action.orchestrator.result import CellOutput, CellResult, RunResult
from runt_action.report.files import write_text_atomic
from runt_action.report.scrub import Scrubber, scrub_result

__all__ = ["PARAMETERS_CELL_ID", "build_notebook", "notebook_json", "write_notebook"]

PARAMETERS_CELL_ID = "parameters"
# nbformat ships no type hints for its constructors; keep the untyped surface in two names.
nbformat: Any = _nbformat
v4: Any = _v4
Notebook = dict[str, Any]  # a NotebookNode: a dict with attribute access
_ID_OK = re.compile(r"[^a-zA-Z0-9_-]")
_KERNELS = {
    "pyodide": ("python3", "Python 3 (Pyodide)"),
    "python": ("python3", "Python 3 (ipykernel)"),
}


def _jsonable(value: Any) -> Any:
    """Parameters may hold anything YAML can; metadata must be JSON."""
    return json.loads(json.dumps(value, default=str))


def _multiline(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _mimebundle(data: dict[str, Any]) -> dict[str, Any]:
    """nbformat wants strings for every MIME type except the JSON ones."""
    bundle: dict[str, Any] = {}
    for mime, value in data.items():
        if re.fullmatch(r"application/(.*\+)?json", mime):
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
        made: Notebook = v4.new_output("stream", name=name, text=out.text or "")
        return made
    if kind == "error":
        made = v4.new_output(
            "error",
            ename=out.ename or "Error",
            evalue=out.evalue or "",
            traceback=[str(t) for t in out.traceback],
        )
        return made
    if kind in ("display_data", "execute_result"):
        kwargs: dict[str, Any] = {
            "data": _mimebundle(out.data),
            "metadata": _jsonable(out.metadata),
        }
        if kind == "execute_result":
            count = out.execution_count if out.execution_count is not None else cell.execution_count
            kwargs["execution_count"] = count
        made = v4.new_output(kind, **kwargs)
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
    if cell.line is not None:
        runt["line"] = cell.line
    metadata: dict[str, Any] = {"runt": runt}
    if cell.cell_type == "markdown":
        nb_cell: Notebook = v4.new_markdown_cell(cell.source, metadata=metadata)
    elif cell.cell_type == "raw":
        nb_cell = v4.new_raw_cell(cell.source, metadata=metadata)
    else:  # code, and sql / ai cells, which the runtime executes and which have outputs
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
            metadata["execution"] = execution
        outputs = [o for o in (_output(x, cell) for x in _coalesce(cell.outputs)) if o]
        nb_cell = v4.new_code_cell(
            cell.source,
            metadata=metadata,
            outputs=outputs,
            execution_count=cell.execution_count,
        )
    nb_cell["id"] = _cell_id(cell.id, seen)
    return nb_cell


def build_notebook(result: RunResult) -> Notebook:
    """The executed notebook, validated (raises ``nbformat.ValidationError`` on a bug)."""
    seen: set[str] = set()
    kernel, display = _KERNELS.get(result.runtime, ("python3", "Python 3"))
    nb: Notebook = v4.new_notebook(
        cells=[_cell(c, seen) for c in result.cells],
        metadata={
            "kernelspec": {"name": kernel, "display_name": display, "language": "python"},
            "language_info": {"name": "python"},
            "title": result.title,
            "runt": {
                "notebook_id": result.notebook_id,
                "url": result.notebook_url,
                "status": result.status.value,
                "started_at": result.started_at,
                "duration_ms": round(result.duration_ms, 3),
                "parameters": _jsonable(result.parameters),
                "source_file": result.source_file,
                "runtime": result.runtime,
                "error": result.error,
                "timings": _jsonable(result.timings),
            },
        },
    )
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    nbformat.validate(nb)
    return nb


def notebook_json(result: RunResult, *, scrubber: Scrubber | None = None) -> str:
    scrubber = scrubber or Scrubber()
    nb = nbformat.from_dict(scrubber.deep(build_notebook(scrub_result(result, scrubber))))
    text: str = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(path: Path, result: RunResult, *, scrubber: Scrubber | None = None) -> None:
    """Validate, then replace ``path`` atomically."""
    write_text_atomic(path, notebook_json(result, scrubber=scrubber))
