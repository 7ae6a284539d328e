"""Values typed by the YAML 1.2 core schema: -p and -y (issue 13: 014, NO, yes, '#')."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runt_action.errors import ParameterError
from runt_action.notebook.core12 import resolve_core12
from runt_action.notebook.params import parse_inline, parse_yaml_option


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("014", 14),  # 1.2 core: decimal (YAML 1.1 said octal 12)
        ("0o14", 12),
        ("0x1F", 31),
        ("-7", -7),
        ("+3", 3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", -math.inf),
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("", None),
        ("NO", "NO"),  # 1.1 booleans are strings in 1.2
        ("yes", "yes"),
        ("on", "on"),
        ("None", "None"),
        ("1_000", "1_000"),  # no underscores in 1.2 core
        ("0b101", "0b101"),
        ("12:30", "12:30"),  # no sexagesimal
        ("2026-01-01", "2026-01-01"),
        ("x #comment", "x #comment"),
        ("a\nb", "a\nb"),
        ("9" * 5000, "9" * 5000),  # too many digits for int(): kept as text, not a crash
    ],
)
def test_core_schema(text: str, value: Any) -> None:
    assert resolve_core12(text) == value
    assert type(resolve_core12(text)) is type(value)


def test_nan() -> None:
    assert math.isnan(resolve_core12(".NaN"))


def test_inline_values_issue_13() -> None:
    values = parse_inline(["n=014", "country=NO", "flag=yes", "w=x #comment", "t=line1\nline2"])
    assert values == {
        "n": 14,
        "country": "NO",
        "flag": "yes",
        "w": "x #comment",
        "t": "line1\nline2",
    }


def test_quotes_are_kept_as_papermill_keeps_them_and_raw_is_untyped() -> None:
    assert parse_inline(["postcode='014'", 'esc="a\\tb"']) == {
        "postcode": "'014'",
        "esc": '"a\\tb"',
    }
    assert parse_inline(["n=014", "z=null"], flag="-r", typed=False) == {"n": "014", "z": "null"}


def test_yaml_option_uses_core_schema() -> None:
    values = parse_yaml_option("b: 2\npostcode: 014\ncountry: NO\nnested: {on: [yes, 0x10]}")
    assert values == {"b": 2, "postcode": 14, "country": "NO", "nested": {"on": ["yes", 16]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "-y:1:1: parameters must be a mapping"),
        ("print: 1", "-y:1:1: parameter name 'print' would shadow the Python builtin"),
        ("a: [", "-y:2:1: YAML syntax error"),
    ],
)
def test_yaml_option_errors_are_located(text: str, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_yaml_option(text)
    assert str(info.value).startswith(message), str(info.value)
