"""Issue 23: no output is too big. Outputs far over one sync event (a 600-dpi figure, a 30 MB
PNG, a 10 MB jshtml-like animation, a 5 MB HTML table, 3 MB of JSON, a 3 MB repr) travel as
artifacts and reach the executed .ipynb exactly as the kernel produced them; the HTML report
links the largest from files beside it; the summary shows placeholders; --strict fails a cell
whose output was cut."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runt_action.report.sidefiles import HTML_OUTPUT_BUDGET_BYTES

_SIZES = {  # cell -> (MIME type, at least this many characters)
    "figure": ("image/png", 600_000),
    "photo": ("image/png", 30_000_000),
    "anim": ("text/html", 10_000_000),
    "table": ("text/html", 5_000_000),
    "json": ("application/json", 3_000_000),
}


def _sha(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _joined(value: Any, mime: str) -> Any:
    return "".join(value) if isinstance(value, list) and mime != "application/json" else value


def _cells(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in nb["cells"]}


def _check_notebook(nb: dict[str, Any]) -> None:
    cells = _cells(nb)
    for cell_id, (mime, size) in _SIZES.items():
        outputs = cells[cell_id]["outputs"]
        [display] = [o for o in outputs if o["output_type"] == "display_data"]
        printed = "".join(
            "".join(o["text"]) for o in outputs if o["output_type"] == "stream"
        ).split()
        value = _joined(display["data"][mime], mime)
        assert len(json.dumps(value)) >= size, cell_id
        assert printed == ["sha", _sha(value)], cell_id  # what the kernel displayed, exactly
        # upstream's fallbacks naming the artifact are gone again; the kernel's text stays
        assert set(display["data"]) == {mime, "text/plain"}, cell_id
        assert "artifact" not in _joined(display["data"]["text/plain"], "text/plain")
    [result] = cells["last"]["outputs"]
    assert _joined(result["data"]["text/plain"], "text/plain") == repr("r" * 3_000_000)


@pytest.mark.timeout(600)  # ~60 MB of outputs; Pyodide builds the PNGs in WebAssembly
async def test_large_outputs_reach_every_reader(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(
        tmp_path,
        notebooks / "large_outputs.yml",
        "--runtime",
        runtime,
        "--html",
        "report.html",
        limit=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dropped" not in run.stderr and "dropped" not in run.summary
    assert run.ipynb is not None
    _check_notebook(run.ipynb)

    # The HTML report embeds what fits its budget and links the rest from files beside it.
    report = (tmp_path / "report.html").read_text()
    assert len(report) < 3 * HTML_OUTPUT_BUDGET_BYTES + 2_000_000
    side = tmp_path / "report.files"
    photo = _joined(_cells(run.ipynb)["photo"]["outputs"][0]["data"]["image/png"], "image/png")
    assert (side / "photo-0.png").read_bytes() == base64.b64decode(photo)
    anim = _joined(_cells(run.ipynb)["anim"]["outputs"][0]["data"]["text/html"], "text/html")
    assert (side / "anim-0.html").read_text() == anim
    for name in ("photo-0.png", "anim-0.html", "table-0.html"):
        assert f'href="report.files/{name}"' in report
    assert 'src="data:image/png;base64,' in report  # the 600-dpi figure fits: embedded

    # The job summary shows a placeholder with the image's size, never the data.
    assert "[image/png 2900\u00d73450]" in run.summary
    assert len(run.summary) < 200_000


@pytest.mark.timeout(300)  # 64 MiB through the sync server, on a shared 2-core machine
@pytest.mark.parametrize("runtime", ["python"])
async def test_strict_fails_a_cell_whose_output_was_cut(
    cli: Any, tmp_path: Path, runtime: str
) -> None:
    notebook = tmp_path / "cut.yml"
    notebook.write_text(
        "cells:\n"
        "  - id: flood\n"
        "    source: |\n"
        "      import sys\n"
        "      for _ in range(65):\n"
        "          sys.stdout.write(('x' * 1023 + '\\n') * 1024)\n"
        "  - id: after\n"
        "    source: print('not reached')\n"
    )
    quiet = ("--runtime", runtime, "--no-log-output")
    strict = await cli(tmp_path, notebook, *quiet, "--strict", limit=300)
    assert strict.returncode == 1, strict.stderr[-2000:]
    assert "output truncated" in strict.stdout + strict.stderr
    assert strict.status_of("flood") == "failed"  # without --strict: a success with a note
    assert strict.status_of("after") == "skipped"


async def test_a_cell_cut_short_keeps_its_artifact_outputs(cli: Any, tmp_path: Path) -> None:
    """The notebook timeout stops a cell after it displayed a large table: the partial outputs
    the run keeps (mark_unfinished) are restored from the artifacts too."""
    notebook = tmp_path / "slow.yml"
    notebook.write_text(
        "cells:\n"
        "  - id: slow\n"
        "    source: |\n"
        "      import time\n"
        "      from IPython.display import HTML, display\n"
        "      display(HTML('<table>' + '<tr><td>r</td></tr>' * 100_000 + '</table>'))\n"
        "      print('shown', flush=True)\n"
        "      time.sleep(600)\n"
    )
    run = await cli(tmp_path, notebook, "--runtime", "python", "--timeout", "8", limit=120)
    assert run.returncode == 3, run.stderr[-2000:]
    assert run.ipynb is not None
    [cell] = run.ipynb["cells"]
    [display] = [o for o in cell["outputs"] if o["output_type"] == "display_data"]
    html = _joined(display["data"]["text/html"], "text/html")
    assert html == "<table>" + "<tr><td>r</td></tr>" * 100_000 + "</table>"
    assert set(display["data"]) == {"text/html", "text/plain"}


@pytest.mark.timeout(300)
async def test_a_100_mb_animation_is_kept_whole(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    """Past the 64 MiB per-cell cap, yet not cut: the cap counts what stays inline in events;
    the animation travels as one artifact (received, uploaded, restored and written streamed,
    agents/kernel_wire.py, report/streamed_json.py) and comes back byte for byte."""
    run = await cli(
        tmp_path,
        notebooks / "huge_animation.yml",
        "--runtime",
        "python",
        "--no-log-output",
        "--html",
        "report.html",
        limit=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "truncated" not in run.stdout + run.stderr and "dropped" not in run.summary
    assert run.ipynb is not None
    [cell] = run.ipynb["cells"]
    [display] = [o for o in cell["outputs"] if o["output_type"] == "display_data"]
    printed = "".join("".join(o["text"]) for o in cell["outputs"] if o["output_type"] == "stream")
    sha = hashlib.sha256()
    for line in display["data"]["text/html"]:  # nbformat's lines, hashed without joining
        sha.update(line.encode())
    size = sum(len(line) for line in display["data"]["text/html"])
    assert size > 99_000_000
    assert printed.split() == ["sha", sha.hexdigest(), str(size)]
    assert set(display["data"]) == {"text/html", "text/plain"}
    side = hashlib.sha256((tmp_path / "report.files" / "anim-0.html").read_bytes())
    assert side.hexdigest() == sha.hexdigest()
