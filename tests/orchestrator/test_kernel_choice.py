"""Issue #21: a Jupyter notebook's kernelspec chooses the kernel (and the runtime), as papermill.

Plans only (nothing is started): a temporary JUPYTER_PATH holds an ``altpy`` kernelspec that
runs this interpreter's ipykernel with a distinctive environment variable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runt_action.errors import UsageError
from runt_action.orchestrator.plan import make_plan
from runt_action.results import RunStatus
from runt_action.settings import load_settings
from tests.jupyter import write_altpy


def _ipynb(path: Path, kernel: str | None, language: str = "python") -> Path:
    metadata: dict[str, object] = {"language_info": {"name": language}}
    if kernel is not None:
        metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": language}
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata,
        "cells": [
            {"cell_type": "code", "id": "c1", "metadata": {}, "source": "x = 1",
             "outputs": [], "execution_count": None},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture
def kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_altpy(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(root))
    for name in ("INPUT_RUNTIME", "INPUT_KERNEL"):
        monkeypatch.delenv(name, raising=False)
    return root


def test_the_notebooks_kernelspec_chooses_the_kernel_and_the_runtime(
    kernels: Path, tmp_path: Path
) -> None:
    plan = make_plan(load_settings(notebook=_ipynb(tmp_path / "nb.ipynb", "altpy")))
    assert plan.runtime == "python"
    assert plan.engine is not None and plan.engine.kernel == "altpy"
    assert "kernel altpy, the notebook's kernelspec" in plan.where()
    assert plan.runtime_reason is not None
    assert plan.result([], RunStatus.SUCCESS).runtime_note == plan.runtime_reason


def test_k_wins_over_the_notebooks_kernelspec(kernels: Path, tmp_path: Path) -> None:
    plan = make_plan(
        load_settings(notebook=_ipynb(tmp_path / "nb.ipynb", "altpy"), kernel="python3")
    )
    assert plan.engine is not None and plan.engine.kernel == "python3"
    assert "from -k" in plan.where()


def test_ipykernels_own_python3_is_this_interpreters_kernel(kernels: Path, tmp_path: Path) -> None:
    plan = make_plan(load_settings(notebook=_ipynb(tmp_path / "nb.ipynb", "python3")))
    assert plan.runtime == "python"
    assert plan.engine is not None and plan.engine.kernel is None  # the fast, default kernel
    assert "kernel python3, the notebook's kernelspec" in plan.where()


def test_a_kernel_that_is_not_installed_is_bad_input_naming_the_installed_ones(
    kernels: Path, tmp_path: Path
) -> None:
    notebook = _ipynb(tmp_path / "nb.ipynb", "r", language="R")
    with pytest.raises(UsageError) as info:
        make_plan(load_settings(notebook=notebook))
    message = str(info.value)
    assert "\n" not in message
    assert "the notebook's kernel 'r' is not installed" in message
    assert "altpy" in message and "python3" in message
    with pytest.raises(UsageError, match="'r' is not installed"):
        make_plan(load_settings(notebook=notebook, runtime="python"))
    with pytest.raises(UsageError, match="Pyodide runs Python only"):
        make_plan(load_settings(notebook=notebook, runtime="pyodide"))


def test_a_missing_python_kernel_is_bad_input_on_either_runtime_choice(
    kernels: Path, tmp_path: Path
) -> None:
    """As papermill's NoSuchKernel: the notebook's own packages live with its kernel, so
    running it elsewhere unasked would only fail later; the message names both ways out."""
    notebook = _ipynb(tmp_path / "nb.ipynb", "python9-elsewhere")
    with pytest.raises(UsageError, match="'python9-elsewhere' is not installed"):
        make_plan(load_settings(notebook=notebook, runtime="python"))
    with pytest.raises(UsageError, match="-k NAME picks one or --runtime pyodide runs it"):
        make_plan(load_settings(notebook=notebook))
    # Asked for explicitly, Pyodide runs it.
    assert make_plan(load_settings(notebook=notebook, runtime="pyodide")).runtime == "pyodide"


def test_explicit_runtime_wins_and_yaml_keeps_pyodide(kernels: Path, tmp_path: Path) -> None:
    plan = make_plan(
        load_settings(notebook=_ipynb(tmp_path / "nb.ipynb", "altpy"), runtime="pyodide")
    )
    assert plan.runtime == "pyodide"
    assert "chosen with --runtime" in plan.where()
    yml = tmp_path / "nb.yml"
    yml.write_text("cells:\n  - id: a\n    source: x = 1\n", encoding="utf-8")
    plan = make_plan(load_settings(notebook=yml))
    assert plan.runtime == "pyodide"
    assert "pyodide runtime (the default)" in plan.where()
    no_spec = make_plan(load_settings(notebook=_ipynb(tmp_path / "plain.ipynb", None)))
    assert no_spec.runtime == "pyodide"
