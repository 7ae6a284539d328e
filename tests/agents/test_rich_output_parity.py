"""Rich output on Pyodide equals the python runtime's: the same cell, on the real ipykernel and
the real Pyodide, gives the same MIME bundles and metadata for ``_repr_*_`` objects (stdlib
classes only, so this runs here; the matplotlib and pandas cases need Pyodide's CDN: see
tests/shipping/test_pyodide_data_stack.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runt_action.agents.engine import Engine
from runt_action.agents.native import NativeEngine
from runt_action.agents.pyodide import PyodideEngine
from runt_action.agents.recording import RecordingSink

CELL = r"""
class Rich:
    def _repr_html_(self): return "<b>rich</b>"
    def _repr_markdown_(self): return "**rich**"
    def _repr_svg_(self): return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    def _repr_png_(self): return b"\x89PNG\r\n\x1a\n fake"
    def _repr_jpeg_(self): return b"\xff\xd8\xff fake"
    def _repr_latex_(self): return r"$x^2$"
    def _repr_json_(self): return {"a": [1, 2]}
    def __repr__(self): return "Rich()"
class WithMetadata:
    def _repr_png_(self): return (b"\x89PNG\r\n\x1a\n m", {"width": 10})
    def _repr_html_(self): return None  # declines: no text/html
class Bundle:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": "<i>b</i>", "application/vnd.custom+json": {"k": 1}}
    def __repr__(self): return "Bundle()"
from IPython.display import display
display(WithMetadata())
display(Bundle())
Rich()
"""


class _Sink(RecordingSink):
    """Keeps the metadata too (RecordingSink drops it)."""

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        display_id: str | None = None,
        *,
        update: bool = False,
    ) -> None:
        self.calls.append(("display", (data, metadata or {})))

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.calls.append(("result", (data, metadata or {})))


def _addresses_out(calls: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Object addresses differ between two interpreters; nothing else may."""
    text = repr(calls)
    return [("calls", re.sub(r" at 0x[0-9a-f]+>", " at 0x…>", text))]


async def _outputs(engine: Engine) -> list[tuple[str, Any]]:
    await engine.start()
    try:
        sink = _Sink()
        outcome = await engine.execute(CELL, sink)
        assert outcome.status.value == "ok", sink.of("error")
        return [
            (kind, (sorted(value[0].items()), value[1]))
            for kind, value in sink.calls
            if kind != "stream"
        ]
    finally:
        await engine.shutdown()


@pytest.mark.pyodide
async def test_repr_methods_give_the_same_bundles_on_both_runtimes() -> None:
    native = await _outputs(NativeEngine())
    pyodide = await _outputs(PyodideEngine())
    assert _addresses_out(pyodide) == _addresses_out(native)
    kinds = [kind for kind, _ in native]
    assert kinds == ["display", "display", "result"]
    shown = dict(native[0][1][0])
    assert shown["text/plain"].startswith("<__main__.WithMetadata at 0x")
