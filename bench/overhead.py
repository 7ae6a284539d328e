"""Orchestration overhead per cell: the ``cells`` phase minus the runtime's own time, per cell.

The runtime's time is the agent's ``executionDurationMs`` (around ``Engine.execute``), read
back from the executed notebook's ``metadata.runt.duration_ms``. What is left is everything
between two executions: request event, sync round trips, claim, start/complete events and
the runner noticing the terminal status. A raw jupyter_client round trip of the same cell is
measured too, so the engine's own cost is visible separately.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import cell_compute_ms, median, percentile, run_cli, timings_ms
from nbgen import trivial_yaml


def _one(nb: Path, runtime: str, env: dict[str, str]) -> dict[str, Any] | None:
    outcome = run_cli(nb, runtime, env_extra=env)
    if not outcome.ok or outcome.ipynb is None:
        return {"error": outcome.stderr_tail, "rc": outcome.returncode}
    cells, compute = cell_compute_ms(outcome.ipynb)
    phase = timings_ms(outcome.ipynb).get("cells")
    if not cells or phase is None:
        return {"error": "no timings in the executed notebook"}
    return {
        "cells": cells,
        "cells_phase_ms": round(phase, 1),
        "compute_ms": round(compute, 1),
        "overhead_per_cell_ms": round((phase - compute) / cells, 3),
        "wall_per_cell_ms": round(phase / cells, 3),
        "compute_per_cell_ms": round(compute / cells, 3),
        "process_wall_s": round(outcome.wall_s, 3),
    }


def bench_overhead(
    cells: int,
    repeats: int,
    runtimes: tuple[str, ...],
    *,
    pyodide_cache: Path | None,
    pyodide_repeats: int | None = None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    result: dict[str, Any] = {"cells": cells, "repeats": repeats, "source": "x = 1"}
    with tempfile.TemporaryDirectory(prefix="runt-bench-ovh-") as tmp:
        nb = Path(tmp) / f"trivial-{cells}.yml"
        trivial_yaml(nb, cells)
        for runtime in runtimes:
            env = {"RUNT_PYODIDE_CACHE": str(pyodide_cache)} if pyodide_cache else {}
            runs = []
            n = pyodide_repeats if runtime == "pyodide" and pyodide_repeats else repeats
            for i in range(n):
                one = _one(nb, runtime, env)
                log(f"  overhead {runtime} run {i + 1}/{n}: {one}")
                if one is not None:
                    runs.append(one)
            good = [r for r in runs if "error" not in r]
            entry: dict[str, Any] = {"runs": runs}
            for key in ("overhead_per_cell_ms", "wall_per_cell_ms", "compute_per_cell_ms"):
                vals = [float(r[key]) for r in good]
                entry[f"median_{key}"] = round(median(vals), 3) if vals else None
            result[runtime] = entry
        if "python" in runtimes:
            # The same runs on asyncio's own loop: what uvloop buys (runt_action/eventloop.py).
            runs = [_one(nb, "python", {"RUNT_EVENT_LOOP": "asyncio"}) for _ in range(repeats)]
            log(f"  overhead python on asyncio's loop: {runs}")
            good = [r for r in runs if r is not None and "error" not in r]
            alt: dict[str, Any] = {"runs": runs}
            for key in ("overhead_per_cell_ms", "wall_per_cell_ms", "compute_per_cell_ms"):
                vals = [float(r[key]) for r in good]
                alt[f"median_{key}"] = round(median(vals), 3) if vals else None
            result["python_asyncio_loop"] = alt
    if "python" in runtimes:
        n = min(cells, 200)
        result["raw_kernel_roundtrip"] = asyncio.run(_raw_kernel(n))
        result["raw_kernel_roundtrip_uvloop"] = _raw_on_uvloop(n)
    return result


def _raw_on_uvloop(n: int) -> dict[str, Any] | None:
    """The floor on the loop our runs use: the fair one to compare their wall time with."""
    try:
        import uvloop
    except ImportError:
        return None
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_raw_kernel(n))


async def _raw_kernel(n: int) -> dict[str, Any]:
    """The floor: jupyter_client execute -> idle on iopub for ``x = 1``, no agent, no sync."""
    from jupyter_client.manager import AsyncKernelManager

    km: Any = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        samples: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            msg_id = kc.execute("x = 1")
            while True:
                msg = await kc.get_iopub_msg()
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"
                ):
                    break
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return {
        "n": n,
        "median_ms": round(median(samples), 3),
        "p90_ms": round(percentile(samples, 90), 3),
    }
