"""Issue #22 item 4: package hints that work where they are printed, naming every missing
module of the notebook at once."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.pyodide.packages import _missing_message
from runt_action.packages import imported_modules, missing_modules_hint, native_install_hint
from runt_action.report.annotations import annotate
from runt_action.report.commands import WorkflowCommands
from runt_action.report.summary import first_error, render_summary
from runt_action.report.terminal import render_terminal
from runt_action.results import CellStatus
from tests.report.conftest import error_output, make_cell, make_result

LOCK = {"info": {"python": "3.12.7"}, "packages": {"numpy": {"version": "2.0.2"}}}


def _no_module(name: str) -> Any:
    return error_output("ModuleNotFoundError", f"No module named '{name}'")


def test_imports_are_read_from_the_whole_cell_but_not_from_try_blocks() -> None:
    source = (
        "%matplotlib inline\nimport numpy as np, os.path\nfrom pandas.api import types\n"
        "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
        "def f():\n    import scipy.stats\nfrom . import local\n"
    )
    assert imported_modules(source) == ["numpy", "os", "pandas", "scipy"]
    assert imported_modules("this is not python(") == []


def test_inside_the_image_the_python_hint_never_says_pip_in_the_container() -> None:
    hint = native_install_hint(["numpy", "pandas>=2"], image=True)
    assert "/opt/runt/bin/python -m pip" not in hint
    assert "step before the action" in hint and "--target .runt-packages" in hint
    assert "PYTHONPATH: /github/workspace/.runt-packages" in hint
    assert "numpy 'pandas>=2'" in hint and "runtime: pyodide" in hint and "wheelhouse" in hint


def test_outside_the_image_the_hint_is_this_pythons_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runt_action.packages.has_pip", lambda: True)
    assert native_install_hint(["numpy"], "/venv/bin/python", image=False) == (
        "run `/venv/bin/python -m pip install numpy`"
    )
    monkeypatch.setattr("runt_action.packages.has_pip", lambda: False)
    no_pip = native_install_hint(["numpy"], "/venv/bin/python", image=False)
    assert "uv pip install --python /venv/bin/python numpy" in no_pip


def test_pyodide_hint_sends_pyodide_builds_to_the_cdn_not_to_pip_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runt_action.packages.in_image", lambda environ=None: False)
    message = _missing_message(["numpy", "tabulate>=0.9"], None, LOCK)
    assert "\n" not in message and "'numpy', 'tabulate>=0.9'" in message
    numpy_part, tabulate_part = message.split("; for ")
    assert "RUNT_PYODIDE_CDN=1" in numpy_part and "pip download" not in numpy_part
    assert "pip download --platform pyemscripten_2026_0_wasm32 --python-version 3.12" in (
        tabulate_part
    )
    assert "--only-binary=:all:" in tabulate_part
    assert "'tabulate>=0.9'`" in tabulate_part and "numpy" not in tabulate_part


def test_pyodide_hint_in_the_image_is_a_workflow_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("runt_action.packages.in_image", lambda environ=None: True)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    message = _missing_message(["numpy", "tabulate"], tmp_path / "wheels", LOCK)
    assert "`env: RUNT_PYODIDE_CDN: 1`" in message
    assert "step before the action" in message and "`wheelhouse: wheels`" in message
    assert "PYODIDE_PACKAGES" not in message  # a user of the action cannot rebuild the image


def _failed_import_result(runtime: str) -> Any:
    cells = [
        make_cell("ok", source="import json\nimport runt_action"),
        make_cell("load", CellStatus.FAILED, source="import numpy", outputs=[_no_module("numpy")]),
        make_cell("plot", CellStatus.SKIPPED, source="import pandas, scipy\nimport json, pytest"),
        make_cell("more", CellStatus.SKIPPED, source="from matplotlib import pyplot\nimport numpy"),
    ]
    return make_result(cells, runtime=runtime)


def test_every_missing_module_is_named_at_once_on_the_python_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runt_action.packages.in_image", lambda environ=None: True)
    found = first_error(_failed_import_result("python"))
    assert found is not None
    hint = found.hint
    # numpy failed; pandas, scipy, matplotlib are checked here and missing; json (stdlib) and
    # pytest (installed) are not named
    assert hint.startswith("missing modules numpy, pandas, scipy, matplotlib:"), hint
    assert "pytest" not in hint and "json" not in hint
    assert "pip install --target" in hint


def test_pyodide_names_the_failed_module_and_the_unchecked_imports() -> None:
    found = first_error(_failed_import_result("pyodide"))
    assert found is not None
    assert found.hint.startswith(
        "missing module numpy (cells that did not run also import pandas, scipy, pytest, "
        "matplotlib):"
    )
    assert "metadata.packages" in found.hint and "pip download" not in found.hint


def test_the_hint_is_in_the_summary_the_log_and_one_annotation(runner: Any) -> None:
    result = _failed_import_result("pyodide")
    assert "💡 missing module numpy" in render_summary(result)
    assert any(line.startswith("  hint: missing module numpy") for line in render_terminal(result))
    out = io.StringIO()
    annotate(WorkflowCommands(out, github_actions=True), result)
    (error,) = runner(out.getvalue()).obeyed("error")
    assert error.data.startswith("ModuleNotFoundError: No module named 'numpy'\nmissing module")


def test_no_hint_for_other_errors() -> None:
    cells = [make_cell("x", CellStatus.FAILED, outputs=[error_output()])]
    found = first_error(make_result(cells))
    assert found is not None and found.hint == ""
    assert missing_modules_hint([], "python") == ""
