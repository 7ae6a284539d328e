"""Issue #21, end to end: an .ipynb runs on the kernel its kernelspec names (as papermill)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.jupyter import write_altpy


def _setup(tmp_path: Path, kernel: str, language: str = "python") -> tuple[Path, dict[str, str]]:
    root = write_altpy(tmp_path / "jupyter")
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}},
        "cells": [
            {"cell_type": "code", "id": "mark", "metadata": {}, "outputs": [],
             "execution_count": None,
             "source": "import os\nprint(os.environ.get('ALTPY_MARK', 'no mark'))"},
        ],
    }  # fmt: skip
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path, {"JUPYTER_PATH": str(root)}


def _stdout_of(run: Any) -> str:
    assert run.ipynb is not None
    return "".join(
        "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
        for cell in run.ipynb["cells"]
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )


async def test_an_ipynb_runs_on_its_kernelspecs_kernel(cli: Any, tmp_path: Path) -> None:
    notebook, env = _setup(tmp_path, "altpy")
    run = await cli(tmp_path, notebook, env=env)
    assert run.returncode == 0, run.stderr
    assert _stdout_of(run) == "altpy-kernel\n"
    first = run.stderr.splitlines()[0]
    assert "on the python runtime (kernel altpy, the notebook's kernelspec" in first
    assert "kernel altpy, the notebook" in run.summary.replace("\\", ""), run.summary[:300]


async def test_k_wins_over_the_kernelspec(cli: Any, tmp_path: Path) -> None:
    notebook, env = _setup(tmp_path, "altpy")
    run = await cli(tmp_path, notebook, "-k", "python3", env=env)
    assert run.returncode == 0, run.stderr
    assert _stdout_of(run) == "no mark\n"


async def test_a_notebook_for_a_kernel_that_is_not_installed_is_exit_2(
    cli: Any, tmp_path: Path
) -> None:
    notebook, env = _setup(tmp_path, "r", language="R")
    run = await cli(tmp_path, notebook, env=env)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if "'r' is not installed" in line]
    assert len(lines) == 1
    assert "altpy" in lines[0] and "python3" in lines[0]
