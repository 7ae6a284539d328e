"""The default runtime engine: Pyodide (CPython on wasm) in a Deno worker, see engine.py."""

from __future__ import annotations

from runt_action.agents.pyodide.engine import PyodideEngine

__all__ = ["PyodideEngine"]
