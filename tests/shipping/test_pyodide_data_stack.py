"""numpy, pandas and matplotlib on Pyodide: the seed's example end to end, a figure as PNG, a
DataFrame as HTML.

Their files come from Pyodide's CDN (fetch.py, each checked against pyodide-lock.json). Where
the CDN cannot be reached (this project's build machines) these tests are skipped with that
reason; under GitHub Actions (the project's workflows) an unreachable CDN fails them instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runt_action.agents.pyodide import PyodideEngine, paths
from runt_action.agents.pyodide.fetch import CDN_URL, fetch_packages
from runt_action.agents.recording import RecordingSink

ROOT = Path(__file__).resolve().parents[2]
STACK = ["numpy", "pandas", "matplotlib"]

pytestmark = [pytest.mark.pyodide, pytest.mark.pyodide_cdn]


@pytest.fixture(scope="module")
def data_stack() -> Path:
    """The local Pyodide install with numpy, pandas, matplotlib (fetched once, verified)."""
    directory = paths.pyodide_dir()
    base = CDN_URL.format(version=paths.pyodide_version(directory))
    try:
        with urllib.request.urlopen(base + "pyodide-lock.json", timeout=10):
            pass
    except (OSError, urllib.error.URLError) as exc:
        if os.environ.get("GITHUB_ACTIONS", "").lower() == "true":
            raise
        pytest.skip(
            f"needs Pyodide's CDN ({base}) for the files of numpy, pandas and matplotlib, "
            f"which this machine cannot reach ({exc})"
        )
    fetch_packages(STACK, directory, base)  # a hash mismatch fails here: never skipped
    return directory


@pytest.fixture
async def engine(data_stack: Path) -> AsyncIterator[PyodideEngine]:
    eng = PyodideEngine(package_cdn=False)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


def test_the_seeds_example_runs_end_to_end_on_pyodide(data_stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "example.ipynb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "runt_action", str(ROOT / "notebooks" / "example.yml")),
            *("--runtime", "pyodide", "--output", str(out), "--no-html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cells = {c["id"]: c for c in json.loads(out.read_text())["cells"]}
    assert any("image/png" in o.get("data", {}) for o in cells["plot"]["outputs"])
    [described] = [o for o in cells["describe"]["outputs"] if o["output_type"] == "execute_result"]
    assert "<table" in "".join(described["data"]["text/html"])
    assert "text/plain" in described["data"]


async def test_a_figure_is_a_png_shown_or_as_the_last_expression(engine: PyodideEngine) -> None:
    sink = RecordingSink()
    code = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()"
    outcome = await engine.execute(code, sink)
    assert outcome.status.value == "ok", sink.of("error")
    [(shown, _)] = sink.of("display")
    assert shown["image/png"] and shown["text/plain"].startswith("<Figure size")
    sink = RecordingSink()
    outcome = await engine.execute("fig2, ax2 = plt.subplots()\nax2.plot([3, 1])\nfig2", sink)
    assert outcome.status.value == "ok", sink.of("error")
    [result] = sink.of("result")
    assert result["image/png"] and result["text/plain"].startswith("<Figure size")


async def test_a_dataframe_is_html_and_plain_text(engine: PyodideEngine) -> None:
    sink = RecordingSink()
    outcome = await engine.execute("import pandas as pd\npd.DataFrame({'a': [1, 2]})", sink)
    assert outcome.status.value == "ok", sink.of("error")
    [result] = sink.of("result")
    assert '<table border="1" class="dataframe">' in result["text/html"]
    assert result["text/plain"].split() == ["a", "0", "1", "1", "2"]
