"""The YAML notebook as pydantic models: runt-eval's format plus per-cell run options.

Validation lives here so a notebook built in code is checked the same way as one loaded from
YAML. Errors that pydantic cannot place precisely carry their position in ``ctx`` (cell
index, parameter path) so the loader can point at the exact YAML node.
"""

from __future__ import annotations

import difflib
import keyword
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from runt_action.notebook.literals import BadValue, check_name, check_value, shown

__all__ = [
    "CELL_ID_PATTERN",
    "PARAMETERS_CELL_ID",
    "CellType",
    "Notebook",
    "NotebookCell",
    "NotebookMetadata",
    "SqlConnection",
    "SweepMatrix",
    "SweepSpec",
]

CellType = Literal["code", "markdown", "raw", "sql", "ai"]

# Cell ids go verbatim into LiveStore events, SQLite rows and URLs (#cell anchors): keep them
# to letters, digits, "_" and "-", starting with a letter or digit.
CELL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PARAMETERS_CELL_ID = "parameters"
# The injected cell reads a secret parameter from this variable (RUNT_SECRET_<name>) in the
# runtime's environment, so its value is never in a cell.
SECRET_ENV_PREFIX = "RUNT_SECRET_"
MAX_CONDITION_LENGTH = 1000  # characters in an `if:` expression
AI_CELL_KEYS = ("model", "temperature", "max_tokens", "system_prompt", "seed")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class _Strict(BaseModel):
    # strict: YAML already types its scalars; "yes" must not quietly become True.
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


def _requirement(text: str) -> str:
    """Each metadata.packages item parses as a PEP 508 requirement (pointed at by index)."""
    try:
        from runt_action.packages import parse_requirement  # only when packages are given

        parse_requirement(text)
    except ValueError as exc:
        raise PydanticCustomError("bad_package", "{message}", {"message": str(exc)}) from None
    return text


class SqlConnection(_Strict):
    """A SQL cell's database: a literal SQLAlchemy URL, or the environment variable holding
    one (``url_env``: the URL is a secret, masked and never written anywhere)."""

    url: str | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SqlConnection:
        if (self.url is None) == (self.url_env is None):
            raise PydanticCustomError(
                "sql_connection", "a connection needs exactly one of 'url' and 'url_env'"
            )
        if self.url_env is not None and not ENV_NAME.fullmatch(self.url_env):
            raise PydanticCustomError(
                "sql_connection",
                "url_env: {name} is not an environment variable name",
                {"name": shown(self.url_env)},
            )
        if self.url is not None and "://" not in self.url:
            raise PydanticCustomError(
                "sql_connection",
                "url: {url} is not a database URL (e.g. sqlite:///data/app.db, duckdb:///x.db)",
                {"url": shown(self.url)},
            )
        return self


class NotebookMetadata(_Strict):
    """Descriptive, except ``packages``; ``runtime`` is informational (the input decides).

    ``packages``: PEP 508 requirements made available before the first cell (Pyodide
    installs them; the native runtime checks they are installed): runt_action/packages.py.
    """

    title: str | None = None
    description: str | None = None
    runtime: str | None = None
    tags: list[str] = Field(default_factory=list)
    packages: list[Annotated[str, AfterValidator(_requirement)]] = Field(default_factory=list)
    # SQL cells' databases by name (a cell's ``connection``); none = DuckDB in memory.
    connections: dict[str, SqlConnection] = Field(default_factory=dict)


class NotebookCell(_Strict):
    id: str
    celltype: CellType = "code"
    source: str
    timeout: float | None = Field(default=None, gt=0)  # seconds; overrides the cell timeout
    retries: int = Field(default=0, ge=0, le=10)
    allow_error: bool = False
    if_: str | None = Field(default=None, alias="if")  # Python expression; false -> skipped
    result: bool = False  # a sweep's comparison table shows its last expression's text
    skip: bool = False  # never executed (nbmake's `skip-execution` tag); reported as skipped
    # SQL cells: a name from metadata.connections (upstream's sqlConnectionId; none = DuckDB
    # in memory) and the kernel variable the result lands in (sqlResultVariable).
    connection: str | None = None
    variable: str | None = None
    # What ``variable`` holds: a pandas or polars DataFrame, or ``rows`` (a list of tuples
    # with ``columns``); none = pandas when the kernel can import it, else rows.
    dataframe: Literal["pandas", "polars", "rows"] | None = None
    # AI cells: upstream's AiSettingsChanged (model, settings) plus a seed; none = the run's
    # ai-model and the service's defaults.
    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    system_prompt: str | None = None
    seed: int | None = None
    line: int = 0  # 1-based line of the cell's mapping in the YAML (0 = not from a file)
    # 1-based YAML line of the source's first line, when each source line is a file line (a
    # literal block, ``source: |``); 0 otherwise. Maps a traceback's line to the file.
    source_line: int = Field(default=0, exclude=True)  # a position, not content
    # A Jupyter input cell's own metadata (tags, jupyter.source_hidden, collapsed, extension
    # keys, ...), as it came in: the executed notebook keeps it. Empty for a YAML cell.
    ipynb_metadata: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("id")
    @classmethod
    def _id_charset(cls, value: str) -> str:
        if value == PARAMETERS_CELL_ID:
            raise PydanticCustomError(
                "reserved_cell_id",
                "cell id 'parameters' is reserved for the injected parameters cell",
            )
        if not CELL_ID_PATTERN.fullmatch(value):
            raise PydanticCustomError(
                "cell_id_charset",
                "cell id {id} must be 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit",
                {"id": shown(value)},
            )
        return value

    @field_validator("variable")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.isidentifier() or keyword.iskeyword(value)):
            raise PydanticCustomError(
                "bad_variable",
                "variable: {name} is not a Python variable name",
                {"name": shown(value)},
            )
        return value

    @model_validator(mode="after")
    def _sql_keys_on_sql_cells(self) -> NotebookCell:
        for key in ("connection", "variable", "dataframe"):
            if getattr(self, key) is not None and self.celltype != "sql":
                raise PydanticCustomError(
                    "located",
                    "'{key}' applies to SQL cells only (celltype: sql)",
                    {"key": key, "path": (key,)},
                )
        return self

    @model_validator(mode="after")
    def _ai_keys_on_ai_cells(self) -> NotebookCell:
        for key in AI_CELL_KEYS:
            if getattr(self, key) is not None and self.celltype != "ai":
                raise PydanticCustomError(
                    "located",
                    "'{key}' applies to AI cells only (celltype: ai)",
                    {"key": key, "path": (key,)},
                )
        return self

    @property
    def ai_settings(self) -> dict[str, Any] | None:
        """``AiSettingsChanged.settings`` for this cell, None when it sets nothing."""
        settings = {
            "temperature": self.temperature,
            "maxTokens": self.max_tokens,
            "systemPrompt": self.system_prompt,
            "seed": self.seed,
        }
        settings = {k: v for k, v in settings.items() if v is not None}
        return settings if settings or self.model else None

    @field_validator("if_")
    @classmethod
    def _if_is_expression(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_CONDITION_LENGTH:  # before compile(): deep input can exhaust it
            raise PydanticCustomError(
                "if_length",
                "'if' is longer than {limit} characters",
                {"limit": MAX_CONDITION_LENGTH},
            )
        try:
            compile(value, "<if>", "eval")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise PydanticCustomError(
                "if_syntax",
                "'if' is not a valid Python expression: {msg}",
                {"msg": getattr(exc, "msg", "too deeply nested")},
            ) from None
        return value

    @property
    def executable(self) -> bool:
        """Markdown and raw cells are created in the notebook but never executed."""
        return self.celltype in ("code", "sql", "ai")


def _check_parameter_set(value: Any) -> Any:
    """A sweep's parameter set (or matrix row) is checked like ``parameters``."""
    if isinstance(value, dict):
        for name, item in value.items():
            try:
                check_name(name)
                check_value(item)
            except BadValue as exc:
                raise PydanticCustomError(
                    "bad_sweep_value",
                    "sweep: parameter {name!r}: {message}",
                    {"name": str(name), "message": exc.message},
                ) from None
    return value


class SweepMatrix(_Strict):
    """GitHub's matrix: the product of the lists, minus ``exclude``, plus ``include``."""

    matrix: dict[str, list[Any]] = Field(min_length=1)
    include: list[dict[str, Any]] = Field(default_factory=list)
    exclude: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("matrix")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, items in value.items():
            if not items:
                raise PydanticCustomError(
                    "empty_matrix", "sweep: matrix '{name}' has no values", {"name": name}
                )
            for item in items:
                _check_parameter_set({name: item})
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _sets(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            _check_parameter_set(item)
        return value


# A list of parameter sets, or a matrix.
SweepSpec = list[dict[str, Any]] | SweepMatrix


class Notebook(_Strict):
    metadata: NotebookMetadata = Field(default_factory=NotebookMetadata)
    parameters: dict[str, Any] = Field(default_factory=dict)
    # At least one in a YAML notebook (the loader says so); a Jupyter notebook may have none.
    cells: list[NotebookCell]
    sweep: SweepSpec | None = None  # run once per parameter set (see notebook.sweep)
    # The injected parameters cell goes right after this cell (papermill: the cell tagged
    # `parameters`); None = it is the first cell.
    parameters_after: str | None = Field(default=None, alias="parameters-after")
    # A Jupyter input's notebook metadata (kernelspec, language_info, ...), kept for the output.
    ipynb_metadata: dict[str, Any] = Field(default_factory=dict)
    path: Path = Path("<memory>")

    @field_validator("sweep")
    @classmethod
    def _sweep_sets(cls, value: SweepSpec | None) -> SweepSpec | None:
        if isinstance(value, list):
            if not value:
                raise PydanticCustomError("empty_sweep", "sweep: the list of sets is empty")
            for item in value:
                _check_parameter_set(item)
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_json_like(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        for name, item in value.items():
            try:
                check_name(name)
                check_value(item)
            except BadValue as exc:
                at_name = exc.key and not exc.path
                message = exc.message if at_name else f"parameter '{name}': {exc.message}"
                raise PydanticCustomError(
                    "bad_parameter",
                    "{message}",
                    {
                        "message": message,
                        "path": (name, *exc.path),
                        "key": exc.key,
                    },
                ) from None
        return value

    @field_validator("cells")
    @classmethod
    def _unique_ids(cls, cells: list[NotebookCell]) -> list[NotebookCell]:
        first: dict[str, int] = {}
        for index, cell in enumerate(cells):
            if cell.id in first:
                where = cells[first[cell.id]].line
                at = f" (first used at line {where})" if where else ""
                raise PydanticCustomError(
                    "duplicate_cell_id",
                    "duplicate cell id '{id}'" + at,
                    {"id": cell.id, "index": index},
                )
            first[cell.id] = index
        return cells

    @model_validator(mode="after")
    def _parameters_after_exists(self) -> Notebook:
        if self.parameters_after is not None and not any(
            c.id == self.parameters_after for c in self.cells
        ):
            raise PydanticCustomError(
                "parameters_after",
                "parameters-after: no cell has id {id}",
                {"id": shown(self.parameters_after)},
            )
        return self

    @model_validator(mode="after")
    def _connections_exist(self) -> Notebook:
        known = self.metadata.connections
        for index, cell in enumerate(self.cells):
            if cell.connection is not None and cell.connection not in known:
                raise PydanticCustomError(
                    "located",
                    "connection: unknown connection {name}{hint}",
                    {
                        "name": shown(cell.connection),
                        "hint": _choices(cell.connection, known),
                        "path": ("cells", index, "connection"),
                    },
                )
        return self

    @property
    def title(self) -> str:
        return self.metadata.title or self.path.stem

    @property
    def source_file(self) -> str:
        return str(self.path)


def _choices(name: str, known: dict[str, Any]) -> str:
    if not known:
        return " (metadata.connections defines none)"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return hint + " (defined: " + ", ".join(sorted(known)) + ")"
