"""JSON-like values as Python source, and the checks that keep parameters JSON-like.

runt-eval rendered parameters with ``JSON.stringify``, so ``null``/``true`` and any string
with a quote broke the cell. Here every value renders as a Python expression that evaluates
back to exactly the same value, including ``inf``/``nan`` and arbitrary strings.
"""

from __future__ import annotations

import builtins
import keyword
import math
from collections.abc import Iterator
from typing import Any

__all__ = ["BadValue", "check_name", "check_value", "python_literal", "shown"]

# Decimal int -> str conversion is capped (sys.int_info.str_digits_check_threshold); hex is not.
_MAX_DECIMAL = 10**4000


class BadValue(ValueError):
    """A value that cannot be a parameter; ``path`` leads from the parameter to the culprit."""

    def __init__(self, message: str, path: tuple[str | int, ...] = (), *, key: bool = False):
        super().__init__(message)
        self.message = message
        self.path = path
        self.key = key  # the problem is the mapping key at ``path``, not its value


def shown(value: object, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters: user input quoted in a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def check_name(name: object) -> str:
    """A parameter name becomes ``name = ...`` in Python, so it must be an identifier; one that
    shadows a builtin (``print``, ``len``) or a dunder (``__builtins__``) breaks later cells."""
    if not isinstance(name, str):
        raise BadValue(f"parameter name {shown(name)} must be a string", key=True)
    if not name.isidentifier() or keyword.iskeyword(name):
        raise BadValue(f"parameter name {shown(name)} is not a valid Python identifier", key=True)
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        raise BadValue(f"parameter name {shown(name)} is a reserved dunder name", key=True)
    if name in _BUILTINS:
        raise BadValue(
            f"parameter name {shown(name)} would shadow the Python builtin of that name",
            key=True,
        )
    return name


_BUILTINS = frozenset(vars(builtins))


def check_value(value: object) -> None:
    """Raise :class:`BadValue` unless ``value`` is JSON-like (plus inf/nan)."""
    for problem in _problems(value, ()):
        raise problem


def _problems(value: object, path: tuple[str | int, ...]) -> Iterator[BadValue]:
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _problems(item, (*path, i))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield BadValue(f"mapping key {shown(key)} must be a string", (*path, key), key=True)
                return
            yield from _problems(item, (*path, key))
        return
    kind = type(value).__name__
    hint = "; quote it to pass a string" if kind in {"date", "datetime"} else ""
    yield BadValue(f"unsupported value of type {kind}{hint}", path)


def python_literal(value: Any) -> str:
    """Python source that evaluates to ``value`` (JSON-like; see :func:`check_value`)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        if abs(value) >= _MAX_DECIMAL:
            return hex(value)
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return float.__repr__(value)
    if isinstance(value, str):
        # papermill's spelling, so an injected cell reads the same under both tools:
        # double quotes, every non-ASCII character and control escaped.
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'

    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise BadValue(f"unsupported value of type {type(value).__name__}")
