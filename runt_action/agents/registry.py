"""Engine by runtime name; the Pyodide engine is imported lazily (it pulls in Deno plumbing)."""

from __future__ import annotations

import importlib
from typing import Any

from runt_action.agents.engine import Engine
from runt_action.errors import UsageError

__all__ = ["RUNTIMES", "make_engine"]

RUNTIMES = ("pyodide", "python")


def make_engine(runtime: str, **opts: Any) -> Engine:
    """``"python"`` → NativeEngine (ipykernel), ``"pyodide"`` → PyodideEngine (Deno)."""
    if runtime == "python":
        from runt_action.agents.native import NativeEngine

        return NativeEngine(**opts)
    if runtime == "pyodide":
        # By name, so this module type-checks and imports before the pyodide package exists.
        module = importlib.import_module("runt_action.agents.pyodide")
        engine: Engine = module.PyodideEngine(**opts)
        return engine
    raise UsageError(f"unknown runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
