"""A cell that swallows KeyboardInterrupt (issue 10, item 4).

After the cell timeout the runtime is interrupted; after the interrupt grace it is
restarted. Only the stuck cell is blamed: the next cell runs on the fresh runtime and
succeeds. One SIGTERM in that state still ends the run promptly with a summary (exit 3).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from faultlib import base_env, parse_github_output, results_of, run_cli, write_notebook

STUBBORN = (
    "import time\n"
    "print('stubborn', flush=True)\n"
    "while True:\n"
    "    try:\n"
    "        time.sleep(0.05)\n"
    "    except KeyboardInterrupt:\n"
    "        print('swallowed', flush=True)\n"
)
CELL_TIMEOUT = 2
# Cell timeout + interrupt grace (5 s by default) + a runtime restart, on a loaded box.
BOUND_S = 30


def stuck_notebook(tmp_path: Path, timeout: int) -> Path:
    return write_notebook(
        tmp_path,
        "stuck.yml",
        [
            {"id": "stubborn", "timeout": timeout, "source": STUBBORN},
            {"id": "next", "source": "print('NEXT OK', 6 * 7)"},
        ],
    )


async def test_stubborn_cell_times_out_runtime_restarts_next_cell_runs(
    tmp_path: Path, runtime: str
) -> None:
    run = await run_cli(
        tmp_path,
        str(stuck_notebook(tmp_path, CELL_TIMEOUT)),
        "--runtime",
        runtime,
        "--no-stop-on-error",
        "--output",
        str(tmp_path / "stuck.ipynb"),
        env=base_env(tmp_path, github=True),
        limit=BOUND_S + 10,
    )
    assert not run.timed_out, run.tail()
    outputs = (
        parse_github_output((tmp_path / "output.txt").read_text())
        if (tmp_path / "output.txt").exists()
        else {}
    )
    assert outputs, f"no step outputs: {run.tail()}"
    results = results_of(outputs)
    assert results["stubborn"]["status"] == "timeout", results
    assert results["next"]["status"] == "success", results
    assert "NEXT OK 42" in run.stdout
    assert outputs["failed-cells"] == "stubborn"
    assert run.returncode == 1, run.tail()
    assert run.elapsed < BOUND_S, f"took {run.elapsed:.1f} s"
    # The restart is visible on the cell that ran on the fresh runtime (or the stuck one).
    summary = (tmp_path / "summary.md").read_text().lower()
    assert "restart" in summary, "the runtime restart is not mentioned in the summary"


async def test_one_sigterm_while_stuck_still_writes_the_summary(
    tmp_path: Path, runtime: str
) -> None:
    sent: list[float] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        # The cell timed out, was interrupted and swallowed it: the state of item 4.
        if line.startswith("swallowed") and not sent:
            sent.append(time.monotonic())
            os.kill(proc.pid, signal.SIGTERM)

    run = await run_cli(
        tmp_path,
        str(stuck_notebook(tmp_path, CELL_TIMEOUT)),
        "--runtime",
        runtime,
        "--no-stop-on-error",
        "--output",
        str(tmp_path / "stuck.ipynb"),
        env=base_env(tmp_path, github=True),
        on_line=on_line,
        limit=60,
    )
    assert sent, run.tail()
    assert not run.timed_out, run.tail()
    took = run.ended_at - sent[0]
    print(f"runtime={runtime} SIGTERM to exit while stuck: {took:.2f} s")
    assert run.returncode == 3, run.tail()
    summary = tmp_path / "summary.md"
    assert summary.is_file() and summary.read_text().strip(), "no summary after SIGTERM"
    outputs = parse_github_output((tmp_path / "output.txt").read_text())
    assert outputs["status"] in ("cancelled", "error"), outputs
    assert "NEXT OK" not in run.stdout
    assert took < BOUND_S, f"SIGTERM took {took:.1f} s to end the run"
