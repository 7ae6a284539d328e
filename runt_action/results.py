"""The outcome of a run and the live-progress protocol: the neutral ground between layers.

The orchestrator produces these and calls :class:`LiveHooks`; ``report/`` consumes and
implements them. Both import this module and never each other, so the layering stays acyclic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# The reason given to a sql/ai cell no runtime here can execute (annotated as a warning,
# or a failure with --strict).
NO_CAPABLE_RUNTIME = "no runtime here can execute"

__all__ = [
    "NO_CAPABLE_RUNTIME",
    "CellOutput",
    "CellResult",
    "CellStatus",
    "LiveHooks",
    "RunResult",
    "RunStatus",
]


class CellStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"  # raised, or the runtime reported failure
    TIMEOUT = "timeout"  # the cell timeout expired (execution cancelled)
    CANCELLED = "cancelled"  # cancelled by a signal or by someone else
    SKIPPED = "skipped"  # not run: after a failure, `if:` false, or no capable runtime
    NOT_EXECUTED = "not-executed"  # markdown / raw cells: created, never executed
    ALLOWED_ERROR = "allowed-error"  # raised, but `allow_error: true`


@dataclass(slots=True)
class CellOutput:
    """One output, in Jupyter terms so it maps straight onto nbformat."""

    output_type: str  # "stream" | "display_data" | "execute_result" | "error"
    name: str | None = None  # stream name
    text: str | None = None  # stream text
    data: dict[str, Any] = field(default_factory=dict)  # MIME bundle
    metadata: dict[str, Any] = field(default_factory=dict)
    execution_count: int | None = None
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    # MIME type -> {"artifactId", "metadata"} of a representation that travelled as an
    # artifact (``data`` holds a placeholder until orchestrator/artifacts.py restores it), or
    # {"fallback": True} for the text the agent added to name it (dropped once restored).
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class CellResult:
    id: str
    cell_type: str  # code | markdown | raw | sql | ai
    source: str
    status: CellStatus
    line: int | None = None  # line of the cell in the YAML file (for annotations)
    # YAML line of the source's first line (a literal block), so a traceback's line in the
    # cell maps to the file: report.annotations.error_line. None: lines do not map.
    source_line: int | None = None
    duration_ms: float = 0.0
    attempts: int = 0
    execution_count: int | None = None
    queue_id: str | None = None
    outputs: list[CellOutput] = field(default_factory=list)
    reason: str | None = None  # why skipped / failed, one line
    started_at: str | None = None  # ISO
    completed_at: str | None = None
    # Visible notes on this cell: outputs truncated or replaced by a placeholder, the runtime
    # restarted, ... Every drop or fallback lands here (and so in the summary), never silently.
    notes: list[str] = field(default_factory=list)
    # AI cells: model, response ids, token usage, latency (agents/executors/ai.py's record).
    ai: dict[str, Any] | None = None
    # A cell an AI cell's model created during the run ("ai-assistant-<session>").
    created_by: str | None = None
    # A SQL cell's connection (absent = DuckDB in memory) and result variable, as given.
    sql: dict[str, str] | None = None


class RunStatus(StrEnum):
    SUCCESS = "success"  # exit 0
    FAILED = "failed"  # a cell failed: exit 1
    ERROR = "error"  # infrastructure: exit 3
    CANCELLED = "cancelled"  # signal: exit 3
    RUNNING = "running"  # a checkpoint written while the run goes on (never a final status)


@dataclass(slots=True)
class RunResult:
    notebook_id: str
    notebook_url: str | None  # the live notebook link, or None on the embedded default
    title: str
    source_file: str  # the YAML file, as given
    status: RunStatus
    cells: list[CellResult]
    parameters: dict[str, Any]  # merged, secrets already masked
    duration_ms: float
    runtime: str  # pyodide | python | none
    started_at: str
    # Why that runtime ran ("kernel altpy, the notebook's kernelspec", "the default", ...).
    runtime_note: str | None = None
    error: str | None = None  # infrastructure error message, if any
    location_note: str | None = None  # where results are when there is no live link
    timings: dict[str, float] = field(default_factory=dict)  # phase -> ms
    # What the run leaves behind: kind ("ipynb", "html", "outputs", ...) -> absolute path.
    # The summary and the terminal report list these, so the user is told where files went.
    artifacts: dict[str, str] = field(default_factory=dict)
    # A Jupyter input's notebook metadata (kernelspec, language_info, ...): the output keeps it.
    ipynb_metadata: dict[str, Any] = field(default_factory=dict)
    # A Jupyter input's cell metadata (tags, jupyter.source_hidden, extension keys, ...) by
    # cell id, as it came in: the output keeps it (our own record goes under "runt").
    cell_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    ipynb_input: bool = False  # the notebook is a Jupyter notebook (its metadata is kept as is)
    # papermill's record (metadata.papermill): the parameters given for this run (secrets
    # masked; None = not known apart from the defaults, then ``parameters``) and the defaults
    # of the notebook's parameters cell.
    given_parameters: dict[str, Any] | None = None
    default_parameters: dict[str, Any] = field(default_factory=dict)
    # The runtime's language_info (kernel_info_reply) when known; it replaces the input's.
    language_info: dict[str, Any] | None = None
    # The code cells' dependency graph as Mermaid text (notebook/graph.py), for the summary.
    dependency_graph: str | None = None
    # metadata.connections (url, or url_env's name: never a secret), kept in the .ipynb so
    # its SQL cells run again from it.
    sql_connections: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def failed_cells(self) -> list[CellResult]:
        return [c for c in self.cells if c.status in (CellStatus.FAILED, CellStatus.TIMEOUT)]

    @property
    def exit_code(self) -> int:
        return {RunStatus.SUCCESS: 0, RunStatus.FAILED: 1}.get(self.status, 3)


class LiveHooks(Protocol):
    """What the live log (report.live) receives while the run goes on."""

    def on_cell_start(self, cell: CellResult, index: int, total: int) -> None: ...
    def on_output(self, cell_id: str, output: CellOutput) -> None: ...
    def on_cell_end(self, cell: CellResult) -> None: ...
