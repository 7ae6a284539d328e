from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runt_action.report.outputs import format_outputs, step_outputs, write_outputs
from runt_action.report.scrub import Scrubber
from runt_action.results import CellStatus


def test_outputs_parse_back(sample_result: Any, tmp_path: Path, github_output_parser: Any) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier=step\n")
    write_outputs(path, sample_result)
    parsed = github_output_parser(path.read_text())
    assert parsed.pop("earlier") == "step"
    assert parsed == {
        "notebook-id": "nb-123",
        "notebook-url": "https://app.runt.run/?notebook=nb-123",
        "status": "failed",
        "failed-cells": "explode",
        "duration-ms": "2345",
        "results": parsed["results"],
    }
    results = json.loads(parsed["results"])
    assert [r["id"] for r in results] == ["parameters", "intro", "compute", "explode", "later"]
    assert results[3] == {
        "id": "explode",
        "type": "code",
        "status": "failed",
        "duration_ms": 12.5,
        "attempts": 1,
        "execution_count": 3,
        "line": 20,
        "reason": None,
        "error": {"ename": "ValueError", "evalue": "boom"},
        "notes": [],
    }


def test_hostile_values_cannot_forge_outputs(github_output_parser: Any) -> None:
    values = {
        "a": "x\nstatus<<EOF\nsuccess\nEOF\nghadelimiter_\n",
        "b": "",
        "c": "line1\r\nline2=3",
    }
    text = format_outputs(values)
    assert github_output_parser(text) == values
    assert format_outputs(values) != text  # delimiters are random every time


def test_invalid_names_are_refused() -> None:
    with pytest.raises(ValueError):
        format_outputs({"a\nb": "x"})


def test_failed_cells_and_secrets(make: Any, tmp_path: Path, github_output_parser: Any) -> None:
    result = make.result(
        [
            make.cell("a", CellStatus.FAILED, outputs=[make.error("E", "token=s3cr3t!")]),
            make.cell("b", CellStatus.TIMEOUT),
            make.cell("c", CellStatus.ALLOWED_ERROR),
        ],
        notebook_url=None,
    )
    assert step_outputs(result)["failed-cells"] == "a,b"
    path = tmp_path / "out"
    write_outputs(path, result, scrubber=Scrubber(["s3cr3t!"]))
    assert "s3cr3t" not in path.read_text()
    parsed = github_output_parser(path.read_text())
    assert parsed["notebook-url"] == ""
    assert json.loads(parsed["results"])[0]["error"]["evalue"] == "token=***"
