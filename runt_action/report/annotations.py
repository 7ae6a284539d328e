"""Error annotations that point at the failing cell's line in the YAML notebook.

GitHub shows at most 10 error annotations per step, so we emit the first
:data:`MAX_ANNOTATIONS` and a notice that says how many were left out.
"""

from __future__ import annotations

import re

from runt_action.report.commands import WorkflowCommands
from runt_action.results import NO_CAPABLE_RUNTIME, CellResult, CellStatus, RunResult

__all__ = ["MAX_ANNOTATIONS", "annotate", "cell_error_message", "error_line", "traceback_line"]

MAX_ANNOTATIONS = 10

# Both runtimes compile a cell as "<cell ID>": Python's and IPython's tracebacks then say
# ``File "<cell ID>", line N`` (a SyntaxError too).
_FRAME = re.compile(r'File "<cell ([^>"]+)>", line (\d+)')


def traceback_line(cell_id: str, traceback: list[str] | str) -> int | None:
    """The line, inside cell ``cell_id``, of the innermost traceback frame in that cell."""
    text = traceback if isinstance(traceback, str) else "\n".join(traceback)
    found = [int(n) for cid, n in _FRAME.findall(text) if cid == cell_id]
    return found[-1] if found else None


def error_line(cell: CellResult) -> int | None:
    """The YAML line that raised: the cell's source line plus the traceback's line in the
    cell, when the source is a literal block; else the cell's own line."""
    if cell.source_line:
        error = next((o for o in cell.outputs if o.output_type == "error"), None)
        n = traceback_line(cell.id, error.traceback or []) if error is not None else None
        if n is not None and 0 < n <= cell.source.count("\n") + 1:
            return cell.source_line + n - 1
    return cell.line


def cell_error_message(cell: CellResult) -> str:
    """``ename: evalue`` of the cell's error output, else why it failed."""
    if cell.status is CellStatus.TIMEOUT:  # its KeyboardInterrupt is ours, not the cause
        return cell.reason or "the cell timeout expired"
    error = next((o for o in cell.outputs if o.output_type == "error"), None)
    if error is not None:
        return f"{error.ename or 'Error'}: {error.evalue or ''}"
    return cell.reason or f"cell {cell.status.value}"


def annotate(commands: WorkflowCommands, result: RunResult, *, limit: int = MAX_ANNOTATIONS) -> int:
    """Emit ``::error`` for failed cells (and the run error); returns how many were emitted."""
    failed = result.failed_cells
    emitted = 0
    from runt_action.report.summary import missing_module_hint

    hint = missing_module_hint(result)  # said once, on the first missing module's annotation
    for cell in failed[:limit]:
        verb = "timed out" if cell.status is CellStatus.TIMEOUT else "failed"
        message = cell_error_message(cell)
        if hint and message.startswith("ModuleNotFoundError"):
            message, hint = f"{message}\n{hint}", ""
        commands.error(
            message,
            file=result.source_file,
            line=error_line(cell),
            title=f"Cell {cell.id} {verb}",
        )
        emitted += 1
    if len(failed) > limit:
        commands.notice(
            f"{len(failed) - limit} more failed cells are not annotated; see the job summary.",
            file=result.source_file,
        )
    for cell in result.cells:  # sql / ai cells nothing here could run: never silent
        if (
            cell.status is CellStatus.SKIPPED
            and (cell.reason or "").startswith(NO_CAPABLE_RUNTIME)
            and emitted < limit
        ):
            commands.warning(
                f"cell {cell.id} was not run: {cell.reason} (--strict makes this a failure)",
                file=result.source_file,
                line=cell.line,
                title=f"Cell {cell.id} skipped",
            )
            emitted += 1
    if result.error and emitted < limit:
        commands.error(result.error, file=result.source_file, title=f"Run {result.status.value}")
        emitted += 1
    return emitted
