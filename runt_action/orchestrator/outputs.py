"""Turn runt outputs (table rows, or live events) into Jupyter-shaped :class:`CellOutput`.

Reporters and the .ipynb speak Jupyter; runt speaks terminal/multimedia/error rows with
media representations. This is the one place that translates, so both the final result
(read from materialized state) and the live log (read from events as they arrive) agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from runt_action.results import CellOutput

__all__ = [
    "NOTICE_KEY",
    "clean_exit_of",
    "merge_streams",
    "notice_of",
    "output_from_event",
    "outputs_from_state",
]

# Media metadata key under which an agent marks a placeholder, truncation or restart notice
# (schema.notices): ``{"runt_action": {"kind": ..., "notice": "one line"}}``.
NOTICE_KEY = "runt_action"
_FALLBACK = "artifactFallback"  # agents.sink.ARTIFACT_FALLBACK (not imported: no agents here)

_OUTPUT_EVENTS = {
    "v1.TerminalOutputAdded",
    "v2.TerminalOutputAppended",
    "v1.MultimediaDisplayOutputAdded",
    "v1.MultimediaResultOutputAdded",
    "v1.MarkdownOutputAdded",
    "v2.MarkdownOutputAppended",
    "v1.ErrorOutputAdded",
}


def _field(row: Any, name: str, default: Any = None) -> Any:
    """Read a column from a dataclass row or a dict row, snake_case or camelCase."""
    camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    if isinstance(row, Mapping):
        return row.get(name, row.get(camel, default))
    return getattr(row, name, getattr(row, camel, default))


def _notice_metadata(*medias: Any) -> dict[str, Any]:
    """The agent's notice metadata when any of the Media carries one (schema.notices parses
    it, in one place), so the CellOutput keeps it; else ``{}``."""
    from runt_action.schema import notices  # the schema package is imported after prestart

    for media in medias:
        found = notices.notice_of(media) if media is not None else None
        if found is not None:
            return notices.notice_metadata(*found)
    return {}


def notice_of(output: CellOutput) -> tuple[str, str] | None:
    """``(kind, text)`` when ``output`` is an agent notice (placeholder, truncation, restart)."""
    if not output.metadata:
        return None
    from runt_action.schema import notices

    return notices.notice_of(output.metadata)


def clean_exit_of(outputs: Sequence[CellOutput]) -> CellOutput | None:
    """The cell's ``sys.exit(0)`` (a SystemExit error output with an empty, 0 or None code)
    when that is its only error: the notebook ended there cleanly, as papermill has it."""
    found: CellOutput | None = None
    for output in outputs:
        if output.output_type != "error":
            continue
        from runt_action.agents.sink import clean_exit  # only once a cell raised

        if not clean_exit(output.ename, output.evalue):
            return None
        found = found or output
    return found


def _representation_medias(representations: Any) -> list[Any]:
    if isinstance(representations, str):
        try:
            representations = json.loads(representations)
        except ValueError:
            return []
    return list(representations.values()) if isinstance(representations, Mapping) else []


def _artifact_text(mime: str, media: Any) -> str:
    """What stands for an artifact until it is restored: its type, size and id."""
    meta = _field(media, "metadata")
    size = meta.get("originalSizeBytes") if isinstance(meta, Mapping) else None
    shown = f", {_size(size)}" if isinstance(size, int) else ""
    return f"[{mime} artifact{shown}: {_field(media, 'artifact_id')}]"


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.1f} kB"


def _media_value(media: Any) -> Any:
    """The inline value of a Media (``{type, data}``), or a link text for an artifact."""
    kind = _field(media, "type")
    if kind == "artifact":
        return f"artifact: {_field(media, 'artifact_id')}"
    if isinstance(media, Mapping) or hasattr(media, "data"):
        return _field(media, "data")
    return media


def _bundle(
    representations: Any, artifacts: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Jupyter bundle; artifact representations (and the fallbacks naming them) are
    recorded in ``artifacts`` for orchestrator/artifacts.py, with a placeholder as data."""
    if not representations:
        return {}
    if isinstance(representations, str):
        try:
            representations = json.loads(representations)
        except ValueError:
            return {"text/plain": representations}
    items = representations.items() if isinstance(representations, Mapping) else []
    bundle: dict[str, Any] = {}
    for mime, media in items:
        if artifacts is not None and _field(media, "type") == "artifact":
            meta = _field(media, "metadata")
            artifacts[str(mime)] = {
                "artifactId": str(_field(media, "artifact_id")),
                "metadata": dict(meta) if isinstance(meta, Mapping) else {},
            }
            bundle[str(mime)] = _artifact_text(str(mime), media)
            continue
        meta = _field(media, "metadata")
        if artifacts is not None and isinstance(meta, Mapping) and meta.get(_FALLBACK):
            artifacts[str(mime)] = {"fallback": True}
        value = _media_value(media)
        if value is None:
            continue
        if not isinstance(value, str) and not mime.endswith("json"):
            value = json.dumps(value)
        bundle[str(mime)] = value
    return bundle


def _error(content: Any) -> CellOutput:
    data = content
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = {"ename": "Error", "evalue": data, "traceback": []}
    if not isinstance(data, Mapping):
        data = {}
    traceback = data.get("traceback") or []
    return CellOutput(
        output_type="error",
        ename=str(data.get("ename") or "Error"),
        evalue=str(data.get("evalue") or ""),
        traceback=[str(t) for t in traceback] if isinstance(traceback, list) else [str(traceback)],
    )


def _final_text(state: Any, row: Any) -> str:
    final = getattr(state, "final_content", None)
    if callable(final):
        return str(final(row) or "")
    return str(_field(row, "data") or "")


def _row_output(state: Any, row: Any) -> CellOutput | None:
    kind = _field(row, "output_type")
    if kind == "terminal":
        return CellOutput(
            output_type="stream",
            name=str(_field(row, "stream_name") or "stdout"),
            text=_final_text(state, row),
            metadata=_notice_metadata(row),
        )
    if kind == "error":
        return _error(_field(row, "data"))
    if kind == "markdown":
        return CellOutput(
            output_type="display_data", data={"text/markdown": _final_text(state, row)}
        )
    if kind in ("multimedia_display", "multimedia_result"):
        artifacts: dict[str, dict[str, Any]] = {}
        data = _bundle(_field(row, "representations"), artifacts)
        if not data and _field(row, "data") is not None:
            data = {str(_field(row, "mime_type") or "text/plain"): _field(row, "data")}
        data.setdefault("text/plain", "")
        meta = _notice_metadata(*_representation_medias(_field(row, "representations")))
        if kind == "multimedia_result":
            return CellOutput(
                output_type="execute_result",
                data=data,
                execution_count=_field(row, "execution_count"),
                metadata=meta,
                artifacts=_real(artifacts),
            )
        return CellOutput(
            output_type="display_data", data=data, metadata=meta, artifacts=_real(artifacts)
        )
    return None


def _real(artifacts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fallback marks only matter next to an artifact."""
    return artifacts if any("artifactId" in a for a in artifacts.values()) else {}


def outputs_from_state(state: Any, cell_id: str) -> list[CellOutput]:
    """A cell's outputs in position order, adjacent same-stream chunks merged (like Jupyter)."""
    getter = getattr(state, "cell_outputs", None)
    if callable(getter):
        rows = list(getter(cell_id))
    else:
        rows = [
            r for r in getattr(state, "outputs", {}).values() if _field(r, "cell_id") == cell_id
        ]
        rows.sort(key=lambda r: float(_field(r, "position") or 0))
    outs = [o for o in (_row_output(state, r) for r in rows) if o is not None]
    return merge_streams(outs)


def merge_streams(outputs: list[CellOutput]) -> list[CellOutput]:
    merged: list[CellOutput] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.output_type == "stream"
            and prev.output_type == "stream"
            and prev.name == out.name
            and not prev.metadata
            and not out.metadata
        ):
            prev.text = (prev.text or "") + (out.text or "")
        else:
            merged.append(out)
    return merged


def output_from_event(name: str, args: Any, state: Any = None) -> tuple[str, CellOutput] | None:
    """For the live log: ``(cell_id, output)`` for an output event, else None.

    Appended deltas carry only the output id; their cell and stream come from ``state``.
    """
    if name not in _OUTPUT_EVENTS or not isinstance(args, Mapping):
        return None
    if name in ("v2.TerminalOutputAppended", "v2.MarkdownOutputAppended"):
        row = getattr(state, "outputs", {}).get(args.get("outputId")) if state is not None else None
        if row is None:
            return None
        cell_id = str(_field(row, "cell_id"))
        delta = str(args.get("delta") or "")
        if name == "v2.MarkdownOutputAppended":
            return cell_id, CellOutput(output_type="display_data", data={"text/markdown": delta})
        return cell_id, CellOutput(
            output_type="stream", name=str(_field(row, "stream_name") or "stdout"), text=delta
        )
    cell_id = str(args.get("cellId"))
    if name == "v1.TerminalOutputAdded":
        value = _media_value(args.get("content"))
        return cell_id, CellOutput(
            output_type="stream",
            name=str(args.get("streamName") or "stdout"),
            text="" if value is None else str(value),
            metadata=_notice_metadata(args.get("content")),
        )
    if name == "v1.ErrorOutputAdded":
        return cell_id, _error(_media_value(args.get("content")))
    if name == "v1.MarkdownOutputAdded":
        value = _media_value(args.get("content"))
        return cell_id, CellOutput(output_type="display_data", data={"text/markdown": str(value)})
    artifacts: dict[str, dict[str, Any]] = {}
    data = _bundle(args.get("representations"), artifacts)
    data.setdefault("text/plain", "")
    meta = _notice_metadata(*_representation_medias(args.get("representations")))
    if name == "v1.MultimediaResultOutputAdded":
        return cell_id, CellOutput(
            output_type="execute_result",
            data=data,
            execution_count=args.get("executionCount"),
            metadata=meta,
            artifacts=_real(artifacts),
        )
    return cell_id, CellOutput(
        output_type="display_data", data=data, metadata=meta, artifacts=_real(artifacts)
    )
