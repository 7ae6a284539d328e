from __future__ import annotations

import re
import uuid

import pytest

from runt_action.schema.ids import (
    CELL_ID_PATTERN,
    new_cell_id,
    new_notebook_id,
    new_output_id,
    new_queue_id,
    new_session_id,
)


def test_notebook_ids_are_12_dash_free_chars() -> None:
    ids = {new_notebook_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[0-9A-Za-z_]{12}", i) for i in ids)


def test_queue_ids_follow_the_ui_shape_and_are_unique() -> None:
    ids = [new_queue_id("cell-1") for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"exec-\d{13}-[0-9a-z]{10}-cell-1", i) for i in ids)


def test_cell_ids_match_the_safe_pattern() -> None:
    ids = {new_cell_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(CELL_ID_PATTERN.match(i) for i in ids)


def test_output_ids_are_uuid4() -> None:
    ids = {new_output_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_session_id_format() -> None:
    sid = new_session_id("python3-pyodide", "python3-pyodide-runtime-42")
    assert re.fullmatch(r"python3-pyodide-python3-pyodide-runtime-42-\d{13}-[0-9a-z]{11}", sid)
    assert sid != new_session_id("python3-pyodide", "python3-pyodide-runtime-42")


@pytest.mark.parametrize(
    ("cell_id", "ok"),
    [
        ("parameters", True),
        ("a", True),
        ("0", True),
        ("load-data_2", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("-lead", False),
        ("_lead", False),
        ("has space", False),
        ("dot.ted", False),
        ("slash/ed", False),
        ("café", False),
        ("trailing\n", False),
    ],
)
def test_cell_id_pattern(cell_id: str, ok: bool) -> None:
    assert bool(CELL_ID_PATTERN.match(cell_id)) is ok
    assert bool(CELL_ID_PATTERN.fullmatch(cell_id)) is ok
