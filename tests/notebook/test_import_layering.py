"""The notebook package's modules import each other one way (issue 21): no cycle, not even
through an import inside a function (the .ipynb reader and the YAML loader used to)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import runt_action.notebook

PACKAGE = "runt_action.notebook"
ROOT = Path(runt_action.notebook.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == PACKAGE:  # from runt_action.notebook import loader, ...
                found.update(f"{PACKAGE}.{a.name}" for a in node.names)
            elif module.startswith(PACKAGE + "."):
                found.add(module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
    return {m for m in found if (ROOT / f"{m.rsplit('.', 1)[1]}.py").exists()}


def _graph() -> dict[str, set[str]]:
    return {
        f"{PACKAGE}.{p.stem}": _imports(p)
        for p in sorted(ROOT.glob("*.py"))
        if p.stem != "__init__"
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_ipynb_path_is_one_way() -> None:
    graph = _graph()
    assert f"{PACKAGE}.ipynb_input" in graph[f"{PACKAGE}.loader"]  # the loader dispatches
    assert f"{PACKAGE}.loader" not in graph[f"{PACKAGE}.ipynb_input"]


def test_no_import_cycle_in_the_notebook_package() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_each_module_imports_alone() -> None:
    """In a fresh interpreter, each module imports first (a cycle that only bites in one order
    shows up as an ImportError here)."""
    for name in ("ipynb_input", "loader", "validation", "model"):
        code = f"import {PACKAGE}.{name}"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
