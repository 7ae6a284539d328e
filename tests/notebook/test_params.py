from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runt_action.errors import ParameterError, UsageError
from runt_action.notebook import parse_notebook
from runt_action.notebook.literals import python_literal
from runt_action.notebook.params import (
    masked_parameters,
    parameters_cell,
    parse_inline,
    parse_secret_specs,
    render_parameters_cell,
    resolve_parameters,
    secret_env,
    secret_names,
)
from runt_action.settings import Settings

NB = parse_notebook(
    "parameters:\n  a: 1\n  b: doc\n  c: [1]\ncells:\n  - id: x\n    source: pass\n", "nb.yml"
)


def _same(x: Any, y: Any) -> bool:
    """Equality that also checks types and treats nan as equal to nan."""
    if type(x) is not type(y):
        return False
    if isinstance(x, float):
        return (math.isnan(x) and math.isnan(y)) or (
            x == y and math.copysign(1, x) == math.copysign(1, y)
        )
    if isinstance(x, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict):
        return list(x) == list(y) and all(_same(x[k], y[k]) for k in x)
    return bool(x == y)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=json_like)
def test_rendered_cell_reproduces_any_json_like_value(value: Any) -> None:
    source = render_parameters_cell({"value": value, "other": "x"})
    namespace: dict[str, Any] = {}
    exec(compile(source, "<parameters>", "exec"), namespace)
    assert _same(namespace["value"], value)
    assert namespace["other"] == "x"


def test_rendering_of_awkward_values() -> None:
    params = {
        "none": None,
        "yes": True,
        "big": 10**5000,
        "inf": float("inf"),
        "ninf": float("-inf"),
        "nan": float("nan"),
        "text": "quote \" and ' and \\ and\nnewline and ünïcødé \u2028 \x00",
        "nested": {"k": [True, None, {"deep": -0.0}]},
    }
    source = render_parameters_cell(params)
    assert source.startswith("# Parameters\n")
    assert "null" not in source and "true" not in source
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    for name, value in params.items():
        assert _same(namespace[name], value), name


def test_python_literal_is_compact_and_readable() -> None:
    assert python_literal({"a": [1, 2.5, None, True]}) == '{"a": [1, 2.5, None, True]}'
    assert python_literal(float("nan")) == "float('nan')"  # papermill's spelling


def test_merge_order_defaults_file_inline_action(tmp_path: Path) -> None:
    pfile = tmp_path / "p.yml"
    pfile.write_text("a: 2\nb: file\nd: 4\n")
    warnings: list[str] = []
    merged = resolve_parameters(
        NB,
        parameters_file=pfile,
        inline=["b=inline", "e=5"],
        action_input='{"b": "action", "c": [1, 2]}',
        warn=warnings.append,
    )
    assert merged == {"a": 2, "b": "action", "c": [1, 2], "d": 4, "e": 5}
    assert warnings == [
        "parameter 'd' is not declared in nb.yml; passing it anyway",
        "parameter 'e' is not declared in nb.yml; passing it anyway",
    ]


def test_undeclared_parameter_warns_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert resolve_parameters(NB, inline=["zzz=1"]) == {"a": 1, "b": "doc", "c": [1], "zzz": 1}
    err = capsys.readouterr().err
    assert err == "warning: parameter 'zzz' is not declared in nb.yml; passing it anyway\n"


def test_json_parameters_file(tmp_path: Path) -> None:
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"a": 3, "c": {"x": [1.5, None]}}, indent="\t"))
    merged = resolve_parameters(NB, parameters_file=pfile, warn=lambda _: None)
    assert merged["a"] == 3 and merged["c"] == {"x": [1.5, None]}


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", 1),
        ("-2.5", -2.5),
        ("true", "true"),
        ("False", False),
        ("null", "null"),
        ("", ""),
        (".inf", ".inf"),
        ("inf", float("inf")),
        ("hello world", "hello world"),
        ("'quoted'", "'quoted'"),
        ("a: b", "a: b"),  # a mapping is not a scalar: kept as text
        ("[1, 2]", "[1, 2]"),
        ("2026-01-01", "2026-01-01"),
        ("x=y", "x=y"),
        ("#not a comment", "#not a comment"),
        ("'unterminated", "'unterminated"),
    ],
)
def test_inline_values_are_yaml_scalars_papermill_style(raw: str, value: Any) -> None:
    assert parse_inline([f"name={raw}"]) == {"name": value}


@pytest.mark.parametrize("item", ["novalue", "=1", "not-an-id=1", "class=1"])
def test_bad_inline_items(item: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_inline([item])
    assert str(info.value).startswith(f"-p {item!r}: ")


def test_action_input_errors_are_located() -> None:
    with pytest.raises(ParameterError) as info:
        resolve_parameters(NB, action_input="a: 1\nb: [2\n")
    assert str(info.value).startswith("<input parameters>:3:1: YAML syntax error")
    with pytest.raises(ParameterError, match=r"^<input parameters>:1:1: parameters must be"):
        resolve_parameters(NB, action_input="just text")


def test_blank_action_input_is_ignored() -> None:
    assert resolve_parameters(NB, action_input="  \n") == NB.parameters


def test_secret_specs_and_env() -> None:
    settings = Settings(secret_parameters=["token", "db=DB_PASSWORD", "a, b"])
    specs = parse_secret_specs(settings.secret_parameters)
    assert [(s.name, s.source) for s in specs] == [
        ("token", "token"),
        ("db", "DB_PASSWORD"),
        ("a", "a"),
        ("b", "b"),
    ]
    assert secret_names(settings) == ["token", "db", "a", "b"]
    env = {"token": "t0k", "DB_PASSWORD": "pw", "a": "1", "b": ""}
    assert secret_env(settings, env) == {
        "RUNT_SECRET_token": "t0k",
        "RUNT_SECRET_db": "pw",
        "RUNT_SECRET_a": "1",
        "RUNT_SECRET_b": "",
    }
    with pytest.raises(UsageError, match="environment variable DB_PASSWORD is not set"):
        secret_env(settings, {"token": "x"})
    with pytest.raises(UsageError, match="not a valid Python identifier"):
        parse_secret_specs(["bad-name"])


def test_secret_values_never_appear_in_the_cell_but_reach_the_runtime() -> None:
    secret = "s3cr3t-'\"-value"
    settings = Settings(secret_parameters=["token"])
    env = secret_env(settings, {"token": secret})
    params = {"token": "placeholder-from-file", "n": 1}
    cell = parameters_cell(params, secret_names(settings))
    assert cell is not None and cell.id == "parameters" and cell.celltype == "code"
    assert secret not in cell.source and "placeholder-from-file" not in cell.source
    assert 'token = __import__("os").environ["RUNT_SECRET_token"]' in cell.source
    # Executed in a real interpreter that received the runtime env, the value is there.
    code = cell.source + "print(repr(token), n)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"{secret!r} 1"
    assert masked_parameters(params, ["token"]) == {"n": 1, "token": "***"}


def test_no_parameters_no_cell() -> None:
    assert parameters_cell({}, []) is None
