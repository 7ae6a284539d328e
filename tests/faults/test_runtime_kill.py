"""The runtime (kernel or Deno) SIGKILLed mid-cell: exit 3, a summary, detected promptly."""

from __future__ import annotations

from pathlib import Path

from faultlib import parse_github_output, results_of
from scenarios import runtime_killed_mid_cell

# Generous for a loaded 2-core box; issue 10 measured under 0.9 s.
DETECTION_LIMIT_S = 5.0


async def test_runtime_sigkill_mid_cell_is_exit_3_with_summary(
    tmp_path: Path, runtime: str
) -> None:
    got = await runtime_killed_mid_cell(tmp_path, runtime)
    run = got.run
    assert got.detection_s is not None, f"no kernel/deno process found below the CLI\n{run.tail()}"
    print(f"runtime={runtime} detection: {got.detection_s:.2f} s (kill to exit)")
    assert run.returncode == 3, run.tail()
    summary = tmp_path / "summary.md"
    assert summary.is_file() and summary.read_text().strip(), "no summary written"
    outputs = parse_github_output((tmp_path / "output.txt").read_text())
    assert outputs["status"] == "error"
    results = results_of(outputs)
    assert results["spin"]["status"] not in ("success", "running", "pending"), results["spin"]
    assert results["later"]["status"] == "skipped"
    assert "LATER" not in run.stdout
    assert got.detection_s < DETECTION_LIMIT_S, (
        f"runtime death noticed after {got.detection_s:.1f} s"
    )
