"""Plain scalars typed by the YAML 1.2 core schema (spec 1.2.2 §10.3.2), for papermill flags.

PyYAML implements YAML 1.1, where ``014`` is octal 12, ``NO``/``yes``/``on`` are booleans and
``1_000`` an integer: a country code or a zip code given with ``-p`` came out wrong. The core
schema knows only null, true/false, decimal/octal (``0o``)/hex (``0x``) integers and floats;
everything else is a string, kept exactly as given (newlines and ``#`` included).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["resolve_core12"]

# The regular expressions of the 1.2 core schema's tag resolution table, verbatim.
_NULL = re.compile(r"null|Null|NULL|~|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?(\.inf|\.Inf|\.INF)")
_NAN = re.compile(r"\.nan|\.NaN|\.NAN")
_MAX_DIGITS = 4000  # int("9" * 5000) raises: such a "number" stays a string


def resolve_core12(text: str) -> Any:
    """The value a YAML 1.2 core-schema plain scalar ``text`` denotes (str when untyped)."""
    if _NULL.fullmatch(text):
        return None
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    if len(text) <= _MAX_DIGITS:
        if _INT10.fullmatch(text):
            return int(text, 10)
        if _INT8.fullmatch(text):
            return int(text[2:], 8)
        if _INT16.fullmatch(text):
            return int(text[2:], 16)
        if _FLOAT.fullmatch(text):
            return float(text)
    if _INF.fullmatch(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.fullmatch(text):
        return float("nan")
    return text
