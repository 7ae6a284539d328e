"""report.sidefiles: an output over the HTML report's budget goes to a file beside it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from runt_action.report.sidefiles import linked_artifacts, spill_large_outputs
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult, RunStatus


def _result(*outputs: CellOutput) -> RunResult:
    cell = CellResult(
        id="big/1", cell_type="code", source="", status=CellStatus.SUCCESS, outputs=list(outputs)
    )
    return RunResult(
        notebook_id="nb",
        notebook_url=None,
        title="t",
        source_file="t.yml",
        status=RunStatus.SUCCESS,
        cells=[cell],
        parameters={},
        duration_ms=1.0,
        runtime="python",
        started_at="2026-12-07T00:00:00Z",
    )


def test_small_outputs_stay_and_nothing_is_copied(tmp_path: Path) -> None:
    result = _result(CellOutput(output_type="display_data", data={"text/html": "<b>x</b>"}))
    assert spill_large_outputs(result, tmp_path / "r.html") is result
    assert not (tmp_path / "r.files").exists()


def test_large_outputs_go_beside_the_report_and_are_linked(tmp_path: Path) -> None:
    image = os.urandom(3_000)
    png = base64.b64encode(image).decode()
    result = _result(
        CellOutput(output_type="display_data", data={"image/png": png, "text/plain": "<f>"}),
        CellOutput(output_type="execute_result", data={"text/html": "<p>secret-value</p>" * 50}),
    )
    report = tmp_path / "r.html"
    spilled = spill_large_outputs(
        result, report, budget=100, scrub=lambda t: t.replace("secret-value", "***")
    )
    assert spilled is not result and result.cells[0].outputs[0].data["image/png"] == png
    assert (tmp_path / "r.files" / "big_1-0.png").read_bytes() == image
    side_html = (tmp_path / "r.files" / "big_1-1.html").read_text()
    assert "secret-value" not in side_html and "***" in side_html
    links = [o.metadata["runt_action_side_file"] for o in spilled.cells[0].outputs]
    assert [link[0]["href"] for link in links] == ["r.files/big_1-0.png", "r.files/big_1-1.html"]


def test_the_viewer_links_artifacts_to_its_route() -> None:
    out = CellOutput(
        output_type="display_data",
        data={"image/png": "[placeholder]", "text/plain": "<f>"},
        artifacts={"image/png": {"artifactId": "nb/abc", "metadata": {"originalSizeBytes": 9}}},
    )
    cell = _result(out).cells[0]
    shown = linked_artifacts(cell, lambda aid: f"/nb/nb/artifacts/{aid}")
    [link] = shown.outputs[0].metadata["runt_action_side_file"]
    assert link == {"mime": "image/png", "size": 9, "href": "/nb/nb/artifacts/nb/abc", "show": True}
    assert cell.outputs[0].data["image/png"] == "[placeholder]"  # the cell itself is unchanged


def test_a_restored_blob_is_always_a_side_file_copied_piece_by_piece(tmp_path: Path) -> None:
    """A BlobText (a large restored artifact) goes beside the report whatever the budget:
    an image blob as the image file, text masked piece by piece (a secret across a piece
    boundary too)."""
    from runt_action.blobs import PIECE_BYTES, BlobText
    from runt_action.masking import Scrubber

    raw = os.urandom(1000)
    (tmp_path / "img").write_bytes(raw)
    secret = "hunter2-secret"
    text = "a" * (PIECE_BYTES - 5) + secret + "b" * 10
    (tmp_path / "txt").write_text(text)
    out = CellOutput(
        "display_data",
        data={
            "image/png": BlobText(tmp_path / "img", "base64", len(raw)),
            "text/html": BlobText(tmp_path / "txt", "utf-8", len(text)),
            "text/plain": "<fig>",
        },
    )
    report = tmp_path / "r.html"
    done = spill_large_outputs(_result(out), report, scrub=Scrubber([secret]).text)
    [spilled] = done.cells[0].outputs
    assert spilled.data == {"text/plain": "<fig>"}
    folder = tmp_path / "r.files"
    assert sorted(p.name for p in folder.iterdir()) == ["big_1-0.html", "big_1-0.png"]
    assert (folder / "big_1-0.png").read_bytes() == raw
    assert (folder / "big_1-0.html").read_text() == Scrubber([secret]).text(text)
