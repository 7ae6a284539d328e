"""A real ipykernel's large outputs reach the sink spilled to files (never a second copy in
memory), exactly as json.loads would have given them; small ones and prints stay strings."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.native import NativeEngine
from runt_action.agents.recording import RecordingSink
from runt_action.agents.spill import SPILL_THRESHOLD_BYTES, SpilledText


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[NativeEngine]:
    eng = NativeEngine(cwd=tmp_path)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


async def test_large_output_values_arrive_spilled_and_exact(engine: NativeEngine) -> None:
    n = SPILL_THRESHOLD_BYTES + 10
    code = (
        "import hashlib\n"
        "from IPython.display import display\n"
        f"html = '<p>\"é😀\\n\\\\' * {n // 8}\n"
        "display({'text/html': html, 'text/plain': 'small'}, raw=True, "
        f"metadata={{'note': 'm' * {n}}})\n"
        f"print('p' * {n})\n"
        f"display({{'text/plain': 'r' * {n}}}, raw=True, display_id='d')\n"
        "print(hashlib.sha256(html.encode('utf-8', 'surrogatepass')).hexdigest())\n"
    )
    sink = RecordingSink()
    outcome = await engine.execute(code, sink)
    assert outcome.status is ExecStatus.OK
    [(first, _), (second, did)] = [v for k, v in sink.calls if k == "display"]
    html = first["text/html"]
    assert isinstance(html, SpilledText)
    assert first["text/plain"] == "small"
    digest = hashlib.sha256(html.read().encode("utf-8", "surrogatepass")).hexdigest()
    assert sink.text("stdout") == "p" * n + "\n" + digest + "\n"  # a print is never spilled
    assert html.chars == n // 8 * 8
    assert isinstance(second["text/plain"], SpilledText) and did == "d"
    assert second["text/plain"].read() == "r" * n
    spill_dir = html.path.parent
    html.discard()
    second["text/plain"].discard()
    assert list(spill_dir.iterdir()) == []  # the metadata string was read back, not left
