"""Pydantic validation errors of the notebook model as one-line messages with a path.

Shared by the YAML loader (:mod:`.loader`) and the Jupyter input (:mod:`.ipynb_input`), so
neither imports the other: the loader dispatches to the .ipynb reader, one way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from runt_action.notebook.literals import shown
from runt_action.notebook.model import Notebook, NotebookCell, NotebookMetadata
from runt_action.notebook.yamlsrc import Loc

__all__ = ["RESERVED_CELL", "RESERVED_TOP", "describe_validation_error", "expected", "fields_at"]

# Keys the loaders fill in themselves; a user writing them is making a mistake.
RESERVED_TOP = frozenset({"path", "ipynb_metadata", "parameters_after"})
RESERVED_CELL = frozenset({"line", "source_line", "ipynb_metadata"})

_MODELS: dict[str, type[BaseModel]] = {"metadata": NotebookMetadata, "cells": NotebookCell}


def fields_at(loc: Loc) -> list[str]:
    """The keys a user may write in the mapping at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = Notebook
    if loc and loc[0] in _MODELS:
        model = _MODELS[str(loc[0])]
    reserved = RESERVED_TOP | RESERVED_CELL
    names = [f.alias or name for name, f in model.model_fields.items()]
    return [n for n in names if n not in reserved]


def expected(choices: Iterable[str], got: object = None) -> str:
    choices = list(choices)
    hint = ""
    if isinstance(got, str):
        close = difflib.get_close_matches(got, choices, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean '{close[0]}'?"
    return hint + (" (expected one of: " + ", ".join(choices) + ")" if choices else "")


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
        return f"unknown key {shown(loc[-1])}" + expected(fields_at(loc[:-1]), loc[-1]), loc, True
    if kind == "missing":
        parent = _dotted(loc[:-1]) or "notebook"
        return f"{parent}: missing required key '{loc[-1]}'", loc, False
    if kind == "duplicate_cell_id":
        return error["msg"], ("cells", int(ctx["index"]), "id"), False
    if kind == "located":  # a model check that knows the exact key (relative to loc)
        return error["msg"], (*loc, *ctx["path"]), False
    if kind in ("bad_variable", "sql_connection"):
        return error["msg"], loc, False
    if kind == "bad_parameter":
        return error["msg"], ("parameters", *ctx["path"]), bool(ctx["key"])
    if kind == "literal_error":
        choices = [
            c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
        ]
        return f"{where}: invalid value {shown(got)}" + expected(choices, got), loc, False
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
