"""The last line of defence: no secret value leaves the process through a report.

The orchestrator already masks parameters, but secrets can still surface in cell output
(a notebook that prints its token). Every string a reporter writes goes through a
:class:`Scrubber`, which also knows the escaped spellings a value takes on its way out
(HTML entities, markdown escapes, JSON, workflow-command escaping). The Scrubber lives in
:mod:`runt_action.masking`, where the runtime agent masks outputs before it commits them.
"""

from __future__ import annotations

from dataclasses import replace

from runt_action.masking import MASK, Scrubber
from runt_action.results import CellResult, RunResult

__all__ = ["MASK", "Scrubber", "scrub_cell", "scrub_result"]


def scrub_cell(cell: CellResult, scrubber: Scrubber) -> CellResult:
    """A deep copy of one cell with every string scrubbed (``cell`` itself with no secrets)."""
    if not scrubber:
        return cell
    s = scrubber.deep
    return replace(
        cell,
        id=s(cell.id),
        source=s(cell.source),
        reason=s(cell.reason),
        notes=s(list(cell.notes)),
        outputs=[
            replace(
                out,
                name=s(out.name),
                text=s(out.text),
                data=s(dict(out.data)),
                metadata=s(dict(out.metadata)),
                ename=s(out.ename),
                evalue=s(out.evalue),
                traceback=s(list(out.traceback)),
            )
            for out in cell.outputs
        ],
    )


def scrub_result(result: RunResult, scrubber: Scrubber) -> RunResult:
    """A deep copy of ``result`` with every string scrubbed; reporters render only this."""
    if not scrubber:
        return result
    s = scrubber.deep
    cells = [scrub_cell(cell, scrubber) for cell in result.cells]
    return replace(
        result,
        notebook_url=s(result.notebook_url),
        title=s(result.title),
        source_file=s(result.source_file),
        cells=cells,
        parameters=s(dict(result.parameters)),
        error=s(result.error),
        location_note=s(result.location_note),
        timings=s(dict(result.timings)),
        artifacts=s(dict(result.artifacts)),
    )
