"""Jupyter notebooks (.ipynb) as input, and conversion between .ipynb and YAML notebooks.

A Jupyter notebook becomes the same :class:`Notebook` a YAML file does, so everything after
loading (plan, run, report) is shared. What papermill and nbmake users rely on carries over:

- the cell tagged ``parameters`` supplies defaults (its ``name = literal`` lines) and the
  injected parameters cell goes right after it (tag ``injected-parameters``);
- a cell tagged ``injected-parameters`` from an earlier run is replaced, its values kept as
  defaults (when it holds anything but literal assignments it stays an ordinary cell);
- ``metadata.runt.{timeout,retries,allow_error,if,skip,result}`` are per-cell options; the
  tags ``raises-exception`` (allow_error) and ``skip-execution`` (skip) are honoured;
- the notebook metadata (kernelspec, language_info, ...) and every cell's metadata (tags,
  ``jupyter.source_hidden``, ``collapsed``, extension keys) are kept for the output notebook;
- what nbformat reads is accepted: a notebook without cells, a code cell without
  ``execution_count`` or ``outputs``.

This module never imports :mod:`.loader` (the loader dispatches here, one way); what both
need is in :mod:`.validation`.

Errors are one line, ``file:line:col: cell N (id 'x'): message``, the line and column those of
the JSON value at fault (the JSON is read a second time, as YAML, for the positions).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runt_action.errors import NotebookError
from runt_action.notebook.conditions import compile_condition
from runt_action.notebook.literals import BadValue, check_name, check_value, shown
from runt_action.notebook.model import (
    CELL_ID_PATTERN,
    PARAMETERS_CELL_ID,
    SECRET_ENV_PREFIX,
    Notebook,
    NotebookCell,
)
from runt_action.notebook.validation import describe_validation_error
from runt_action.notebook.yamlsrc import Loc, Located, SourceError, parse_yaml, read_source

__all__ = [
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "is_ipynb",
    "load_ipynb",
    "notebook_to_ipynb",
    "notebook_to_yaml",
    "papermill_defaults",
    "parameter_defaults",
    "parse_ipynb",
]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
RAISES_TAG = "raises-exception"
SKIP_TAG = "skip-execution"
# A Jupyter notebook may carry old outputs (images, tables) we never use: a larger cap than a
# YAML notebook's, still bounded. Positions for error messages are only computed on error.
MAX_IPYNB_BYTES = 100 * 2**20
DEFAULTS_CELL_ID = "parameters-defaults"  # the cell a YAML notebook's `parameters:` becomes

# Per-cell options read from metadata.runt, and the keys our own output writes there (a run's
# result notebook can be run again: its result keys are ignored, anything else is a typo).
_OPTION_KEYS = (
    "timeout",
    "retries",
    "allow_error",
    "if",
    "skip",
    "result",
    "celltype",
    "connection",
    "variable",
)
_RESULT_KEYS = frozenset(
    {"id", "cell_type", "status", "duration_ms", "attempts", "reason", "notes", "line", "sql"}
)
# A cell's metadata that describes an earlier execution: never carried into a new notebook.
_STALE_CELL_KEYS = ("papermill", "execution")


def is_ipynb(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".ipynb"


def load_ipynb(path: str | Path) -> Notebook:
    """Read, validate (nbformat) and convert the Jupyter notebook at ``path``."""
    path = Path(path)
    try:
        text = read_source(path, MAX_IPYNB_BYTES)
    except SourceError as exc:
        raise exc.located(NotebookError, path) from None
    return parse_ipynb(text, path)


def parse_ipynb(text: str, path: str | Path = "<string>") -> Notebook:
    """A Jupyter notebook's JSON text as a :class:`Notebook`; ``path`` names it in errors."""
    import nbformat

    path = Path(path)

    def fail(message: str) -> NotebookError:
        return NotebookError(message, file=path)

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"not a Jupyter notebook: JSON syntax error: {exc.msg}",
            file=path,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except (RecursionError, ValueError) as exc:
        raise fail(f"not a Jupyter notebook: {exc.__class__.__name__}") from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise fail("not a Jupyter notebook: expected a JSON object with 'cells'")
    try:
        nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        _complete(nb)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        message = " ".join(str(exc.message).split())
        raise fail(
            f"invalid Jupyter notebook at {where or 'top level'}: {shown(message, 160)}"
        ) from None
    except Exception as exc:  # nbformat's readers raise many kinds for malformed input
        raise fail(f"not a Jupyter notebook: {' '.join(str(exc).split())[:160]}") from None
    return _convert(nb, _Where(path, text))


def _complete(nb: Any) -> None:
    """What nbformat reads but its schema requires, filled in as Jupyter does on opening: a
    code cell's ``execution_count`` (null) and ``outputs`` (none)."""
    for cell in nb.get("cells") or ():
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell.setdefault("execution_count", None)
            cell.setdefault("outputs", [])


def _plain(value: Any) -> Any:
    """nbformat's NotebookNode tree as plain dicts and lists (JSON values)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Where:
    """Errors at the JSON position of a path into the notebook (file:1:1 when unknown).

    JSON is YAML: the bounded YAML parser finds the position, only when there is an error
    (a notebook too large or deep for it gets file:1:1)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def _located(self) -> Located | None:
        try:
            return parse_yaml(self.text)
        except SourceError:
            return None

    def error(self, message: str, loc: Loc = (), *, key: bool = False) -> NotebookError:
        located = self._located() if loc else None
        mark = located.mark(loc, key=key) if located is not None else None
        if mark is None:
            return NotebookError(message, file=self.path)
        return NotebookError(message, file=self.path, line=mark.line, column=mark.column)


def _convert(nb: Any, where_: _Where) -> Notebook:
    path = where_.path
    metadata = dict(nb.get("metadata") or {})
    cells: list[dict[str, Any]] = []
    parameters: dict[str, Any] = {}
    injected: dict[str, Any] = {}
    parameters_after: str | None = None
    seen: set[str] = set()
    indexes: list[int] = []  # each kept cell's index in the file's cells list
    raw_ids = {str(c.get("id")) for c in nb.cells if c.get("id")}
    for index, cell in enumerate(nb.cells, start=1):
        tags = [str(t) for t in (cell.get("metadata") or {}).get("tags") or []]
        source = str(cell.get("source") or "")
        where = f"cell {index}"
        if INJECTED_TAG in tags and cell.get("cell_type") == "code":
            values = parameter_defaults(source, strict=True)
            if values is not None:
                injected.update(values)  # replaced by this run's injected cell, values kept
                if parameters_after is None and cells:
                    parameters_after = str(cells[-1]["id"])
                continue
        cell_id = _cell_id(cell.get("id"), index, seen, raw_ids)
        where = f"cell {index} (id {cell_id!r})"
        entry = _cell(cell, cell_id, tags, where, where_, index - 1)
        if PARAMETERS_TAG in tags and cell.get("cell_type") == "code":
            if parameters_after is None or not injected:
                parameters_after = cell_id
            parameters.update(parameter_defaults(source) or {})
        cells.append(entry)
        indexes.append(index - 1)
    parameters.update(injected)
    firsts = _source_lines(where_.text, [str(c.get("source") or "") for c in nb.cells])
    for entry, index in zip(cells, indexes, strict=True):
        entry["source_line"] = firsts[index]
    title = metadata.get("title")
    data: dict[str, Any] = {
        "metadata": {"title": title} if isinstance(title, str) and title else {},
        "parameters": parameters,
        "cells": cells,
        "parameters-after": parameters_after,
        "ipynb_metadata": {k: v for k, v in metadata.items() if k != "runt"},
        "path": path,
    }
    runt = metadata.get("runt")
    if isinstance(runt, Mapping) and isinstance(runt.get("sql_connections"), Mapping):
        data["metadata"]["connections"] = _plain(runt["sql_connections"])
    try:
        notebook = Notebook.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, cells, where_, indexes) from None
    _check_conditions(notebook, where_, indexes)
    return notebook


_SOURCE_KEY = re.compile(r'^[ \t]*"source":[ \t]*\[[ \t]*$', re.M)


def _source_lines(text: str, sources: list[str]) -> list[int]:
    """Per cell, the file line of its source's first line, where each source line is one
    JSON line (``"source": [`` then one string per line, as nbformat writes); else 0.

    A traceback's line in the cell then maps to the file, as for a YAML literal block, so
    annotations point at the line that raised (report/annotations.error_line)."""
    found = list(_SOURCE_KEY.finditer(text))
    if len(found) != len(sources):
        return [0] * len(sources)  # another layout (a string source, a minified file)
    lines = text.split("\n")
    firsts: list[int] = []
    at, line = 0, 1
    for match, source in zip(found, sources, strict=True):
        line += text.count("\n", at, match.start())
        at = match.start()
        first = line + 1  # 1-based: the line after `"source": [`
        count = len(source.splitlines())
        body = lines[first - 1 : first - 1 + count]
        ok = count > 0 and len(body) == count and all(b.lstrip().startswith('"') for b in body)
        closing = lines[first - 1 + count].lstrip() if first - 1 + count < len(lines) else ""
        firsts.append(first if ok and closing.startswith("]") else 0)
    return firsts


def _cell_id(raw: object, index: int, seen: set[str], raw_ids: set[str]) -> str:
    """The cell's own id when it is a valid runt id, else ``cell-<index>`` (made unique)."""
    text = str(raw) if raw else ""
    if text and text != PARAMETERS_CELL_ID and CELL_ID_PATTERN.fullmatch(text) and text not in seen:
        seen.add(text)
        return text
    candidate, n = f"cell-{index}", 1
    while candidate in seen or candidate in raw_ids:
        n += 1
        candidate = f"cell-{index}-{n}"
    seen.add(candidate)
    return candidate


def _cell(
    cell: Mapping[str, Any], cell_id: str, tags: list[str], where: str, at: _Where, raw: int
) -> dict[str, Any]:
    kind = str(cell.get("cell_type") or "code")
    entry: dict[str, Any] = {
        "id": cell_id,
        "celltype": kind if kind in ("code", "markdown", "raw") else "raw",
        "source": str(cell.get("source") or ""),
        "ipynb_metadata": _plain(cell.get("metadata") or {}),
    }
    runt = (cell.get("metadata") or {}).get("runt")
    if runt is not None:
        if not isinstance(runt, Mapping):
            loc: Loc = ("cells", raw, "metadata", "runt")
            raise at.error(f"{where}: metadata.runt must be a mapping", loc)
        for key, value in runt.items():
            if key in _OPTION_KEYS:
                entry[key] = value
            elif key not in _RESULT_KEYS:
                choices = ", ".join(_OPTION_KEYS)
                raise at.error(
                    f"{where}: unknown key {shown(key)} in metadata.runt (expected one of: "
                    f"{choices})",
                    ("cells", raw, "metadata", "runt", key),
                    key=True,
                )
        _sql_cell_back(entry, runt.get("sql"))
    if RAISES_TAG in tags:
        entry.setdefault("allow_error", True)
    if SKIP_TAG in tags:
        entry.setdefault("skip", True)
    return entry


def _sql_cell_back(entry: dict[str, Any], sql: Any) -> None:
    """An executed notebook's SQL cell (jupysql's ``%%sql`` form, report/ipynb.py) runs again
    as the SQL cell it was, with its connection and variable from ``metadata.runt.sql``."""
    source = entry["source"]
    if not isinstance(sql, Mapping) or not source.startswith("%%sql"):
        return
    entry["celltype"] = "sql"
    entry["source"] = source.split("\n", 1)[1] if "\n" in source else ""
    for key in ("connection", "variable", "dataframe"):
        if isinstance(sql.get(key), str):
            entry.setdefault(key, sql[key])


def _validation_error(
    exc: ValidationError, cells: list[dict[str, Any]], at: _Where, indexes: list[int]
) -> Exception:
    message, loc, _ = describe_validation_error(exc.errors()[0])
    if len(loc) >= 2 and loc[0] == "cells" and isinstance(loc[1], int) and loc[1] < len(cells):
        index = indexes[loc[1]]
        option = ".".join(str(p) for p in loc[2:])
        detail = message.split(": ", 1)[-1] if message.startswith("cells[") else message
        prefix = f"cell {index + 1} (id {cells[loc[1]]['id']!r})"
        if option:
            prefix += f": metadata.runt.{option}"
        return at.error(f"{prefix}: {detail}", ("cells", index, "metadata", "runt", *loc[2:]))
    return at.error(message)


def _check_conditions(notebook: Notebook, at: _Where, indexes: list[int]) -> None:
    """Compile every ``if`` now, so --validate rejects what a run would reject."""
    earlier: list[str] = [] if notebook.parameters_after else [PARAMETERS_CELL_ID]
    for raw, cell in zip(indexes, notebook.cells, strict=True):
        if cell.if_:
            try:
                compile_condition(cell.if_, earlier_cells=earlier, file=at.path)
            except NotebookError as exc:
                raise at.error(
                    f"cell {raw + 1} (id {cell.id!r}): {exc.message}",
                    ("cells", raw, "metadata", "runt", "if"),
                ) from None
        earlier.append(cell.id)
        if cell.id == notebook.parameters_after:
            earlier.append(PARAMETERS_CELL_ID)


def parameter_defaults(source: str, *, strict: bool = False) -> dict[str, Any] | None:
    """The ``name = literal`` assignments of a parameters cell, as papermill reads them.

    Other statements are ignored (they still run: the cell is kept); with ``strict``, any
    other statement (or a syntax error) makes the result None, except the line our injected
    cell reads a secret with (it has no value to keep: a run injects it again when the secret
    is given). Names must pass :func:`check_name`, values :func:`check_value`; others are not
    defaults."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None if strict else {}
    values: dict[str, Any] = {}
    for stmt in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        if strict and _secret_read(target, value):
            continue
        literal = _literal(target, value)
        if literal is None:
            if strict:
                return None
            continue
        values[literal[0]] = literal[1]
    return values


def _literal(target: ast.expr | None, value: ast.expr | None) -> tuple[str, Any] | None:
    if not isinstance(target, ast.Name) or value is None:
        return None
    try:
        result = _float_call(value)
        if result is None:
            result = (ast.literal_eval(value),)
        check_name(target.id)
        check_value(result[0])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, BadValue):
        return None
    return target.id, result[0]


def _secret_read(target: ast.expr | None, value: ast.expr | None) -> bool:
    """``name = __import__("os").environ["RUNT_SECRET_name"]``, as our injected cell writes."""
    return (
        isinstance(target, ast.Name)
        and isinstance(value, ast.Subscript)
        and isinstance(value.slice, ast.Constant)
        and value.slice.value == SECRET_ENV_PREFIX + target.id
        and isinstance(value.value, ast.Attribute)
        and value.value.attr == "environ"
        and isinstance(value.value.value, ast.Call)
        and isinstance(value.value.value.func, ast.Name)
        and value.value.value.func.id == "__import__"
        and [ast.dump(a) for a in value.value.value.args] == [ast.dump(ast.Constant("os"))]
        and not value.value.value.keywords
    )


def _float_call(node: ast.expr) -> tuple[float] | None:
    """``float("nan")``/``float("inf")``, as our own injected cell writes them."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in ("nan", "inf", "-inf")
    ):
        return (float(node.args[0].value),)
    return None


def _tags(metadata: Mapping[str, Any]) -> list[str]:
    tags = metadata.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def papermill_defaults(notebook: Notebook) -> dict[str, Any]:
    """papermill's ``default_parameters``: the literal assignments of the first code cell
    tagged ``parameters`` of a Jupyter input (not an earlier run's injected values); a YAML
    notebook's ``parameters:``."""
    if not is_ipynb(notebook.path):
        return dict(notebook.parameters)
    for cell in notebook.cells:
        if cell.celltype == "code" and PARAMETERS_TAG in _tags(cell.ipynb_metadata):
            return parameter_defaults(cell.source) or {}
    return {}


# -- writing ----------------------------------------------------------------------------------


def _cell_options(cell: NotebookCell) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if cell.timeout is not None:
        options["timeout"] = cell.timeout
    if cell.retries:
        options["retries"] = cell.retries
    if cell.allow_error:
        options["allow_error"] = True
    if cell.if_:
        options["if"] = cell.if_
    if cell.skip:
        options["skip"] = True
    if cell.result:
        options["result"] = True
    if cell.connection is not None:
        options["connection"] = cell.connection
    if cell.variable is not None:
        options["variable"] = cell.variable
    return options


def notebook_to_ipynb(
    notebook: Notebook, *, parameters_source: str | None = None
) -> dict[str, Any]:
    """The notebook as nbformat 4.5 JSON data, without outputs.

    A YAML notebook's ``parameters:`` become a code cell tagged ``parameters`` (first, or just
    before the cell ``parameters-after`` names when that cell does not already assign them).
    ``parameters_source``, when given, is the injected cell (tag ``injected-parameters``),
    placed where a run places it. A Jupyter input's cell metadata is kept (its tags decide,
    never ``parameters-after``), minus the record of an earlier execution (``papermill``,
    ``execution``); the options go to ``metadata.runt``."""
    from runt_action.notebook.literals import python_literal

    from_ipynb = is_ipynb(notebook.path)
    after = notebook.parameters_after
    by_id = {c.id: c for c in notebook.cells}
    covered = parameter_defaults(by_id[after].source) if after is not None else {}
    missing = {
        k: v for k, v in notebook.parameters.items() if (covered or {}).get(k, _MISSING) != v
    }
    defaults: dict[str, Any] | None = None
    if missing:
        source = "".join(f"{k} = {python_literal(v)}\n" for k, v in missing.items())
        defaults_id = DEFAULTS_CELL_ID
        while defaults_id in by_id:
            defaults_id += "-1"
        defaults = _code_cell(defaults_id, source, [PARAMETERS_TAG], {})
        if after is None:
            after = defaults_id
    cells: list[dict[str, Any]] = []

    def injected() -> None:
        if parameters_source is not None:
            cells.append(_code_cell(PARAMETERS_CELL_ID, parameters_source, [INJECTED_TAG], {}))

    if defaults is not None and after == defaults["id"]:
        cells.append(defaults)
    if after is None or after == (defaults or {}).get("id"):
        injected()
    for cell in notebook.cells:
        if defaults is not None and cell.id == after:
            cells.append(defaults)
        options = _cell_options(cell)
        if from_ipynb:
            tags = _tags(cell.ipynb_metadata)
        else:
            tags = [PARAMETERS_TAG] if cell.id == after else []
        if cell.celltype in ("markdown", "raw"):
            meta: dict[str, Any] = {"runt": options} if options else {}
            cells.append(
                {"id": cell.id, "cell_type": cell.celltype, "source": cell.source, "metadata": meta}
            )
        else:
            if cell.celltype != "code":
                options["celltype"] = cell.celltype
            cells.append(_code_cell(cell.id, cell.source, tags, options))
        kept = {
            k: v
            for k, v in cell.ipynb_metadata.items()
            if k not in ("tags", "runt", *_STALE_CELL_KEYS)
        }
        cells[-1]["metadata"] = {**kept, **cells[-1]["metadata"]}
        if cell.id == after:
            injected()
    metadata: dict[str, Any] = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    metadata.update({k: v for k, v in notebook.ipynb_metadata.items() if k != "papermill"})
    if notebook.metadata.title:
        metadata["title"] = notebook.metadata.title
    if notebook.metadata.connections:
        metadata["runt"] = {
            "sql_connections": {
                k: c.model_dump(exclude_none=True) for k, c in notebook.metadata.connections.items()
            }
        }
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells}


_MISSING = object()


def _code_cell(
    cell_id: str, source: str, tags: list[str], options: dict[str, Any]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if tags:
        metadata["tags"] = tags
    if options:
        metadata["runt"] = options
    return {
        "id": cell_id,
        "cell_type": "code",
        "source": source,
        "metadata": metadata,
        "execution_count": None,
        "outputs": [],
    }


def ipynb_text(data: Mapping[str, Any]) -> str:
    """nbformat's own serialisation, validated (so what we write, Jupyter opens)."""
    import nbformat

    nb = nbformat.from_dict(data)  # type: ignore[no-untyped-call]
    nbformat.validate(nb)
    return str(nbformat.writes(nb)) + "\n"  # type: ignore[no-untyped-call]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so sources read like code."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def notebook_to_yaml(notebook: Notebook) -> str:
    """The notebook as a YAML notebook this loader reads back to the same cells.

    A Jupyter `parameters` cell made only of literal assignments becomes ``parameters:``
    (its values are there); any other keeps its place via ``parameters-after``."""
    data: dict[str, Any] = {}
    meta = {k: v for k, v in notebook.metadata.model_dump().items() if v}
    if meta:
        data["metadata"] = meta
    if notebook.parameters:
        data["parameters"] = dict(notebook.parameters)
    after = notebook.parameters_after
    cells: list[dict[str, Any]] = []
    for cell in notebook.cells:
        if cell.id == after and parameter_defaults(cell.source, strict=True) is not None:
            after = cells[-1]["id"] if cells else None  # same place, one cell earlier
            continue
        entry: dict[str, Any] = {"id": cell.id}
        if cell.celltype != "code":
            entry["celltype"] = cell.celltype
        entry.update(_cell_options(cell))
        entry["source"] = cell.source
        cells.append(entry)
    if after is not None:
        data["parameters-after"] = after
    data["cells"] = cells
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
