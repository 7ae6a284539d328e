"""Sweep expansion (GitHub's matrix rules) and the --sweep file."""

from __future__ import annotations

from pathlib import Path

import pytest

from runt_action.errors import NotebookError, ParameterError
from runt_action.notebook.loader import parse_notebook
from runt_action.notebook.model import SweepMatrix
from runt_action.notebook.sweep import expand_sweep, load_sweep_file, set_label


def test_github_docs_matrix_example() -> None:
    spec = SweepMatrix(
        matrix={"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert expand_sweep(spec) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_exclude_removes_partial_matches() -> None:
    spec = SweepMatrix(
        matrix={"os": ["linux", "mac"], "n": [1, 2, 3]}, exclude=[{"os": "mac", "n": 2}]
    )
    assert [tuple(s.values()) for s in expand_sweep(spec)] == [
        ("linux", 1),
        ("linux", 2),
        ("linux", 3),
        ("mac", 1),
        ("mac", 3),
    ]


def test_a_list_sweep_in_the_notebook() -> None:
    nb = parse_notebook(
        "parameters: {n: 1}\nsweep:\n  - {n: 2}\n  - {n: 3}\n"
        "cells:\n  - id: a\n    source: n\n    result: true\n"
    )
    assert nb.sweep is not None and expand_sweep(nb.sweep) == [{"n": 2}, {"n": 3}]
    assert nb.cells[0].result is True


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("sweep: []\n", "2:"),  # empty list
        ("sweep: {matrix: {n: []}}\n", ":"),
        ("sweep: {matrix: {n: [1]}, includ: []}\n", ":"),
        ("sweep: [{'not an id': 1}]\n", ":"),
    ],
)
def test_bad_sweeps_are_located_errors(text: str, where: str) -> None:
    with pytest.raises(NotebookError) as info:
        parse_notebook(text + "cells:\n  - id: a\n    source: x\n", "nb.yml")
    assert str(info.value).startswith("nb.yml:") and "sweep" in str(info.value)


def test_sweep_file(tmp_path: Path) -> None:
    f = tmp_path / "sweep.yml"
    f.write_text("matrix:\n  region: [north, south]\n  days: [7]\n")
    assert load_sweep_file(f) == [
        {"region": "north", "days": 7},
        {"region": "south", "days": 7},
    ]
    f.write_text("matrix:\n  region: nope\n")
    with pytest.raises(ParameterError) as info:
        load_sweep_file(f)
    assert str(info.value).startswith(f"{f}:")


def test_labels_are_file_name_safe() -> None:
    assert set_label(3, {"region": "north/east", "days": 7}) == "3-region-north-east-days-7"
