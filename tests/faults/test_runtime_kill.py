"""The runtime (kernel or Deno) SIGKILLed mid-cell: exit 3, a summary, detected promptly."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from faultlib import base_env, parse_github_output, results_of, run_cli, runtime_pid, write_notebook

# Generous for a loaded 2-core box; issue 10 measured under 0.9 s.
DETECTION_LIMIT_S = 5.0


async def test_runtime_sigkill_mid_cell_is_exit_3_with_summary(
    tmp_path: Path, runtime: str
) -> None:
    notebook = write_notebook(
        tmp_path,
        "killed.yml",
        [
            {"id": "spin", "source": "print('spinning', flush=True)\nwhile True:\n    pass\n"},
            {"id": "later", "source": "print('LATER')"},
        ],
    )
    killed: list[tuple[int, float]] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if line.startswith("spinning") and not killed:
            pid = runtime_pid(proc.pid)
            assert pid is not None, "no kernel/deno process below the CLI"
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, time.monotonic()))

    run = await run_cli(
        tmp_path,
        str(notebook),
        "--runtime",
        runtime,
        "--output",
        str(tmp_path / "killed.ipynb"),
        env=base_env(tmp_path, github=True),
        on_line=on_line,
        limit=90,
    )
    assert killed, run.tail()
    summary = tmp_path / "summary.md"
    detection = run.ended_at - killed[0][1]
    print(f"runtime={runtime} detection: {detection:.2f} s (kill to exit)")
    assert run.returncode == 3, run.tail()
    assert summary.is_file() and summary.read_text().strip(), "no summary written"
    outputs = parse_github_output((tmp_path / "output.txt").read_text())
    assert outputs["status"] == "error"
    results = results_of(outputs)
    assert results["spin"]["status"] not in ("success", "running", "pending"), results["spin"]
    assert results["later"]["status"] == "skipped"
    assert "LATER" not in run.stdout
    assert detection < DETECTION_LIMIT_S, f"runtime death noticed after {detection:.1f} s"
