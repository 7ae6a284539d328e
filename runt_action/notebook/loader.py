"""Load a YAML notebook file into a validated :class:`Notebook`, or fail with one located line.

Every problem becomes a :class:`~runt_action.errors.NotebookError` naming ``file:line:col``
of the offending YAML node, so a user sees one line and never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runt_action.errors import NotebookError
from runt_action.notebook.conditions import compile_condition
from runt_action.notebook.literals import shown
from runt_action.notebook.model import PARAMETERS_CELL_ID, Notebook, NotebookCell, NotebookMetadata
from runt_action.notebook.yamlsrc import Loc, Located, SourceError, parse_yaml, read_source

__all__ = ["describe_validation_error", "load_notebook", "parse_notebook"]

# Keys the loader fills in itself; a user writing them is making a mistake.
_RESERVED_TOP = {"path", "ipynb_metadata", "parameters_after"}
_RESERVED_CELL = {"line", "source_line"}


def load_notebook(path: str | Path) -> Notebook:
    """Read, parse and validate the notebook at ``path``: a Jupyter notebook when its name
    ends in ``.ipynb`` (see :mod:`.ipynb_input`), else a YAML notebook."""
    path = Path(path)
    if path.suffix.lower() == ".ipynb":
        from runt_action.notebook.ipynb_input import load_ipynb

        return load_ipynb(path)
    try:
        text = read_source(path)
    except SourceError as exc:
        raise exc.located(NotebookError, path) from None
    return parse_notebook(text, path)


def parse_notebook(text: str, path: str | Path = "<string>") -> Notebook:
    """Parse and validate notebook YAML text; ``path`` names it in errors."""
    path = Path(path)

    def fail(message: str, loc: Loc = (), *, key: bool = False) -> NotebookError:
        mark = located.mark(loc, key=key)
        return NotebookError(message, file=path, line=mark.line, column=mark.column)

    try:
        located = parse_yaml(text)
    except SourceError as exc:
        raise exc.located(NotebookError, path) from None
    data = located.data
    if data is None:
        raise fail("the notebook is empty; expected a mapping with a 'cells' list")
    if not isinstance(data, dict):
        raise fail("a notebook must be a mapping with 'metadata', 'parameters' and 'cells'")
    _reject_reserved(data, located, path)
    cells = data.get("cells")
    # "x-" keys hold YAML anchors for reuse, as in docker-compose; they are not part of the model.
    prepared: dict[str, Any] = {
        k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
    }
    if isinstance(cells, list):
        lines = text.splitlines()
        prepared["cells"] = [
            {
                **cell,
                "line": located.mark(("cells", i)).line,
                "source_line": _source_line(located, lines, i),
            }
            if isinstance(cell, dict)
            else cell
            for i, cell in enumerate(cells)
        ]
    prepared["path"] = path
    try:
        notebook = Notebook.model_validate(prepared)
    except ValidationError as exc:
        message, loc, key = describe_validation_error(_most_helpful(exc.errors()))
        raise fail(message, loc, key=key) from None
    _check_conditions(notebook, located, path)
    return notebook


def _source_line(located: Located, lines: list[str], index: int) -> int:
    """The file line of the source's first line when the source is a literal block
    (``source: |``: its lines are the file's lines, from the next one on); else 0."""
    mark = located.values.get(("cells", index, "source"))
    if mark is None or not 0 < mark.line <= len(lines):
        return 0
    line = lines[mark.line - 1]
    return mark.line + 1 if line[mark.column - 1 : mark.column] == "|" else 0


def _check_conditions(notebook: Notebook, located: Located, path: Path) -> None:
    """Compile every ``if:`` now, so --validate rejects what a run would reject."""
    earlier = [PARAMETERS_CELL_ID]
    for i, cell in enumerate(notebook.cells):
        if cell.if_:
            mark = located.mark(("cells", i, "if"))
            try:
                compile_condition(cell.if_, earlier_cells=earlier, file=path, line=mark.line)
            except NotebookError as exc:
                raise NotebookError(
                    exc.message, file=path, line=mark.line, column=mark.column
                ) from None
        earlier.append(cell.id)


def _reject_reserved(data: dict[Any, Any], located: Located, path: Path) -> None:
    bad: list[Loc] = [(k,) for k in data if k in _RESERVED_TOP]
    cells = data.get("cells")
    if isinstance(cells, list):
        for i, cell in enumerate(cells):
            if isinstance(cell, dict):
                bad.extend(("cells", i, k) for k in cell if k in _RESERVED_CELL)
    if bad:
        mark = located.mark(bad[0], key=True)
        message = f"unknown key {shown(bad[0][-1])}" + _expected(_fields_at(bad[0][:-1]))
        raise NotebookError(message, file=path, line=mark.line, column=mark.column)


_MODELS: dict[str, type[BaseModel]] = {"metadata": NotebookMetadata, "cells": NotebookCell}


def _fields_at(loc: Loc) -> list[str]:
    """The keys a user may write in the mapping at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = Notebook
    if loc and loc[0] in _MODELS:
        model = _MODELS[str(loc[0])]
    reserved = _RESERVED_TOP | _RESERVED_CELL
    names = [f.alias or name for name, f in model.model_fields.items()]
    return [n for n in names if n not in reserved]


def _expected(choices: Iterable[str], got: object = None) -> str:
    choices = list(choices)
    hint = ""
    if isinstance(got, str):
        close = difflib.get_close_matches(got, choices, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean '{close[0]}'?"
    return hint + (" (expected one of: " + ", ".join(choices) + ")" if choices else "")


def _most_helpful(errors: list[ErrorDetails]) -> ErrorDetails:
    """An unknown key explains a "missing" one (a typo), so report unknown keys first."""
    for error in errors:
        if error["type"] == "extra_forbidden":
            return error
    return errors[0]


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_WORDS = {
    "string_type": "a string",
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def describe_validation_error(error: ErrorDetails) -> tuple[str, Loc, bool]:
    """One pydantic error as (one-line message, YAML path to point at, point at the key)."""
    kind = error["type"]
    loc: Loc = tuple(error["loc"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    where = _dotted(loc)
    got = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {shown(loc[-1])}" + _expected(_fields_at(loc[:-1]), loc[-1]), loc, True
    if kind == "missing":
        parent = _dotted(loc[:-1]) or "notebook"
        return f"{parent}: missing required key '{loc[-1]}'", loc, False
    if kind == "duplicate_cell_id":
        return error["msg"], ("cells", int(ctx["index"]), "id"), False
    if kind == "bad_parameter":
        return error["msg"], ("parameters", *ctx["path"]), bool(ctx["key"])
    if kind == "literal_error":
        choices = [
            c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
        ]
        return f"{where}: invalid value {shown(got)}" + _expected(choices, got), loc, False
    if kind in _TYPE_WORDS:
        return f"{where}: expected {_TYPE_WORDS[kind]}, got {_yaml_type(got)}", loc, False
    if kind == "too_short" and loc == ("cells",):
        return "cells: a notebook needs at least one cell", loc, False
    return f"{where}: {error['msg']}" if where else error["msg"], loc, False


def _yaml_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return f"{name} ({value!r})" if kind is not str else f"{name} ({value!r:.40})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
