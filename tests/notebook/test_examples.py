from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from runt_action.notebook import Notebook, load_notebook
from runt_action.notebook.params import parameters_cell

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "notebooks").glob("*.yml"))


def _imports(nb: Notebook) -> set[str]:
    names: set[str] = set()
    for cell in nb.cells:
        if cell.celltype != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_shipped_notebook_is_valid(path: Path) -> None:
    nb = load_notebook(path)
    assert nb.metadata.title
    for cell in nb.cells:
        if cell.celltype == "code":
            ast.parse(cell.source)  # valid Python before any parameters are injected


@pytest.mark.parametrize("name", ["example.yml", "example-stdlib.yml"])
def test_examples_have_the_runt_eval_shape(name: str) -> None:
    nb = load_notebook(ROOT / "notebooks" / name)
    kinds = [c.celltype for c in nb.cells]
    assert nb.parameters
    assert kinds.count("code") == 7
    assert kinds.count("markdown") == 1


def test_example_uses_the_scientific_stack() -> None:
    assert {"numpy", "pandas", "matplotlib"} <= _imports(
        load_notebook(ROOT / "notebooks/example.yml")
    )


def test_example_stdlib_imports_only_the_standard_library() -> None:
    imported = _imports(load_notebook(ROOT / "notebooks" / "example-stdlib.yml"))
    assert imported and imported <= set(sys.stdlib_module_names)


def test_example_stdlib_runs_in_a_plain_interpreter_with_parameters(tmp_path: Path) -> None:
    nb = load_notebook(ROOT / "notebooks" / "example-stdlib.yml")
    params = {**nb.parameters, "days": 3, "region": "north"}
    cell = parameters_cell(params)
    assert cell is not None
    code = "\n".join([cell.source, *(c.source for c in nb.cells if c.celltype == "code")])
    script = tmp_path / "run.py"
    script.write_text(code + "\nprint('RESULT', summary)\n")
    done = subprocess.run(
        [sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "region='north' days=3" in done.stdout
    assert "9 sales rows generated" in done.stdout
    assert "RESULT {'region': 'north', 'days': 3," in done.stdout
