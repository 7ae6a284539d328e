"""Issue 21: what the injected parameters cell assigns, and how -p / -y / -f values are typed
(papermill's rules, checked against papermill's cli.py `_resolve_type`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runt_action.notebook import parse_notebook
from runt_action.notebook.ipynb_input import parse_ipynb
from runt_action.notebook.params import (
    given_parameters,
    injected_parameters,
    load_parameters_file,
    papermill_value,
    parameters_cell,
    parse_inline,
    parse_yaml_option,
)


def _ipynb(*cells: tuple[str, list[str]]) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    for i, (source, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        cell["id"] = f"c{i}"
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return str(nbformat.writes(nb))


PARAMS_CELL = "from datetime import date\nb = 1\nb = b * 10\nstart = '2020-01-01'\n"
PARAMS_CELL += "start = date.fromisoformat(start)\n"


def _run(notebook: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Execute the planned cells in order, as a kernel would; the resulting namespace."""
    from runt_action.orchestrator.runner import plan_cells

    cell = parameters_cell(injected_parameters(notebook, given))
    namespace: dict[str, Any] = {}
    for planned in plan_cells(notebook, cell.source if cell is not None else None):
        exec(planned.source, namespace)
    return namespace


def test_ipynb_defaults_are_not_rewritten_after_the_parameters_cell() -> None:
    nb = parse_ipynb(_ipynb((PARAMS_CELL, ["parameters"]), ("c = b + 1", [])), "in.ipynb")
    assert injected_parameters(nb, {}) == {}
    assert parameters_cell(injected_parameters(nb, {})) is None  # nothing given: no cell
    ns = _run(nb, {})
    assert ns["b"] == 10 and ns["c"] == 11 and str(ns["start"]) == "2020-01-01"


def test_ipynb_injects_only_what_is_given_right_after_the_parameters_cell() -> None:
    from runt_action.orchestrator.runner import plan_cells

    nb = parse_ipynb(
        _ipynb(("import os", []), (PARAMS_CELL, ["parameters"]), ("c = b + 1", [])), "in.ipynb"
    )
    given = parse_inline(["b=5"])
    assert injected_parameters(nb, given) == {"b": 5}
    cell = parameters_cell(injected_parameters(nb, given))
    assert cell is not None
    assert [c.id for c in plan_cells(nb, cell.source)] == ["c0", "c1", "parameters", "c2"]
    ns = _run(nb, given)
    assert ns["b"] == 5 and ns["c"] == 6 and str(ns["start"]) == "2020-01-01"


def test_ipynb_without_parameters_cell_gets_the_given_ones_first() -> None:
    from runt_action.orchestrator.runner import plan_cells

    nb = parse_ipynb(_ipynb(("print(1)", [])), "in.ipynb")
    cell = parameters_cell(injected_parameters(nb, {"x": 1}))
    assert cell is not None
    assert [c.id for c in plan_cells(nb, cell.source)] == ["parameters", "c0"]


def test_an_earlier_injected_cell_is_replaced_as_papermill_replaces_it() -> None:
    """papermill keeps an earlier run's injected cell when nothing is given, and replaces
    it (its values gone) when something is."""
    text = _ipynb(
        (PARAMS_CELL, ["parameters"]),
        ("# Parameters\nb = 5\n", ["injected-parameters"]),
        ("c = b + 1", []),
    )
    nb = parse_ipynb(text, "out.ipynb")
    assert injected_parameters(nb, {}) == {"b": 5}
    assert _run(nb, {})["c"] == 6
    assert injected_parameters(nb, {"start": "2021-02-02"}) == {"start": "2021-02-02"}
    ns = _run(nb, {"start": "2021-02-02"})
    assert ns["b"] == 10 and ns["start"] == "2021-02-02"


def test_yaml_notebook_defaults_are_still_defined_by_the_injected_cell() -> None:
    nb = parse_notebook(
        "parameters:\n  b: 1\n  s: x\ncells:\n  - id: use\n    source: c = b * 10\n", "nb.yml"
    )
    assert injected_parameters(nb, {}) == {"b": 1, "s": "x"}
    assert injected_parameters(nb, {"s": "y"}) == {"b": 1, "s": "y"}
    assert _run(nb, {})["c"] == 10


def test_yaml_parameters_after_cell_that_assigns_the_default_is_not_overwritten() -> None:
    """A converted Jupyter parameters cell with code (`parameters-after`) keeps its own
    statements' effect; a default it does not assign literally is still injected."""
    nb = parse_notebook(
        "parameters:\n  b: 1\n  other: 2\nparameters-after: params\ncells:\n"
        "  - id: params\n    source: |\n      b = 1\n      b = b * 10\n"
        "  - id: use\n    source: c = b + other\n",
        "nb.yml",
    )
    assert injected_parameters(nb, {}) == {"other": 2}
    assert _run(nb, {})["c"] == 12


def test_secrets_are_injected_even_when_nothing_else_is() -> None:
    nb = parse_ipynb(_ipynb(("token = ''", ["parameters"])), "in.ipynb")
    cell = parameters_cell(injected_parameters(nb, {}), ["token"])
    assert cell is not None
    assert cell.source.splitlines()[1:] == ['token = __import__("os").environ["RUNT_SECRET_token"]']


def test_given_parameters_excludes_defaults_and_keeps_a_value_equal_to_one() -> None:
    nb = parse_ipynb(_ipynb(("b = 1", ["parameters"])), "in.ipynb")
    given = given_parameters(nb, inline=["b=1"], warn=lambda _: None)
    assert given == {"b": 1}
    assert injected_parameters(nb, given) == {"b": 1}  # papermill injects it too


# -- -p typing: papermill's _resolve_type ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("None", None),
        ("True", True),
        ("False", False),
        ("true", "true"),
        ("TRUE", "TRUE"),
        ("null", "null"),
        ("none", "none"),
        ("", ""),
        ("''", "''"),
        ("'014'", "'014'"),
        ("0x1F", "0x1F"),
        ("0o7", "0o7"),
        ("014", 14),
        ("-3", -3),
        ("1_000", 1000),
        (" 7 ", 7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("1_0.5", 10.5),
        ("inf", math.inf),
        ("-Infinity", -math.inf),
        (".inf", ".inf"),
        ("yes", "yes"),
        ("NO", "NO"),
        ("1:30", "1:30"),
        ("2026-01-01", "2026-01-01"),
        ("x #c", "x #c"),
    ],
)
def test_p_values_are_typed_as_papermill_types_them(text: str, value: Any) -> None:
    got = papermill_value(text)
    assert type(got) is type(value) and got == value
    assert parse_inline([f"v={text}"]) == {"v": value}


def test_p_nan() -> None:
    assert math.isnan(papermill_value("nan"))


def test_r_values_are_always_text() -> None:
    assert parse_inline(["a=None", "b=1"], flag="-r", typed=False) == {"a": "None", "b": "1"}


# -- -y / -f: YAML 1.2 core, with a warning where papermill's YAML 1.1 differs ------------------


def test_y_warns_once_per_value_papermill_reads_differently() -> None:
    warnings: list[str] = []
    values = parse_yaml_option(
        "a: yes\nb: 010\nc: 0o7\nd: plain\ne: 2026-01-01\n", warn=warnings.append
    )
    assert values == {"a": "yes", "b": 10, "c": 7, "d": "plain", "e": "2026-01-01"}
    assert warnings == [
        "-y: parameter a is 'yes' (str) (YAML 1.2 core); papermill's YAML 1.1 reads True (bool)",
        "-y: parameter b is 10 (int) (YAML 1.2 core); papermill's YAML 1.1 reads 8 (int)",
        "-y: parameter c is 7 (int) (YAML 1.2 core); papermill's YAML 1.1 reads '0o7' (str)",
    ]


def test_y_warnings_name_nested_values_and_keys_and_are_capped() -> None:
    warnings: list[str] = []
    parse_yaml_option("n: {off: [on, 1_000, 1:30]}\nx: 1e3\ny: No\nz: ON", warn=warnings.append)
    assert warnings[0].startswith("-y: the key n['off'] is 'off' (str)")
    assert warnings[1] == (
        "-y: parameter x is 1000.0 (float) (YAML 1.2 core); papermill's YAML 1.1 reads '1e3' (str)"
    )
    parse_yaml_option("l: [on, 1_000, 1:30, no, off, yes, 1]", warn=warnings.append)
    assert warnings[4:] == [
        "-y: parameter l[0] is 'on' (str) (YAML 1.2 core); papermill's YAML 1.1 reads True (bool)",
        "-y: parameter l[1] is '1_000' (str) (YAML 1.2 core); papermill's YAML 1.1 reads "
        "1000 (int)",
        "-y: parameter l[2] is '1:30' (str) (YAML 1.2 core); papermill's YAML 1.1 reads 90 (int)",
        "-y: parameter l[3] is 'no' (str) (YAML 1.2 core); papermill's YAML 1.1 reads False (bool)",
        "-y: parameter l[4] is 'off' (str) (YAML 1.2 core); papermill's YAML 1.1 reads "
        "False (bool)",
        "-y: 1 more value(s) that papermill's YAML 1.1 reads differently",
    ]


def test_no_warning_when_both_readings_agree() -> None:
    warnings: list[str] = []
    parse_yaml_option("a: 1\nb: x\nc: [true, null, 0x10, 1.5, .inf]\n", warn=warnings.append)
    assert warnings == []


def test_parameters_file_is_core12_and_warns(tmp_path: Path) -> None:
    pfile = tmp_path / "p.yml"
    pfile.write_text("country: NO\npostcode: 014\nn: 3\n")
    warnings: list[str] = []
    assert load_parameters_file(pfile, warn=warnings.append) == {
        "country": "NO",
        "postcode": 14,
        "n": 3,
    }
    assert warnings == [
        f"{pfile}: parameter country is 'NO' (str) (YAML 1.2 core); papermill's YAML 1.1 "
        "reads False (bool)",
        f"{pfile}: parameter postcode is 14 (int) (YAML 1.2 core); papermill's YAML 1.1 "
        "reads 12 (int)",
    ]


def test_json_parameters_file_reads_json_numbers(tmp_path: Path) -> None:
    pfile = tmp_path / "p.json"
    pfile.write_text('{"big": 1e3, "s": "yes"}')
    warnings: list[str] = []
    assert load_parameters_file(pfile, warn=warnings.append) == {"big": 1000.0, "s": "yes"}
    assert len(warnings) == 1 and "parameter big is 1000.0 (float)" in warnings[0]


def test_a_parameters_file_date_or_huge_number_is_text_as_papermill_injects_it(
    tmp_path: Path,
) -> None:
    """papermill reads a date with YAML 1.1 and injects it as its text; the 1.2 core schema
    gives that text directly (no warning: the injected value is the same). A number too long
    for int() stays text too, as with -y, rather than a crash."""
    pfile = tmp_path / "p.yml"
    pfile.write_text("since: 2024-01-01\nhuge: " + "1" * 5000 + "\n")
    warnings: list[str] = []
    assert load_parameters_file(pfile, warn=warnings.append) == {
        "since": "2024-01-01",
        "huge": "1" * 5000,
    }
    assert not any("since" in w for w in warnings), warnings
