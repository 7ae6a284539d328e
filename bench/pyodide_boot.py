"""Pyodide engine boot: memory-snapshot boot vs cold boot, and the per-cell round trip.

Each sample is a fresh Deno process, timed from PyodideEngine.start() to the end of the first
cell (the stdlib example's imports, then ``print(1 + 1)``), so it is what a run waits for
before its first output. CPU is the Deno process's (user + system), robust to a busy machine.
"Imports outside the snapshot" times a cell importing stdlib modules that the snapshot does
not carry, right after a snapshot boot (bytecode from the precompiled stdlib, or compiled in
wasm without it).

    .venv/bin/python bench/pyodide_boot.py [-n 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from runt_action.agents.pyodide import PyodideEngine, paths

FIRST_CELL = (
    "import random\nimport statistics\nfrom collections import Counter, defaultdict\n"
    "from datetime import date, timedelta\nprint(1 + 1)"
)
COLD_IMPORTS = "import email.parser, xml.dom.minidom, configparser, ipaddress, tomllib, wave"


class Quiet:
    def stream(self, name: str, text: str) -> None: ...
    def display(self, data: dict[str, Any], *args: Any, **kwargs: Any) -> None: ...
    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...
    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        raise RuntimeError(f"{ename}: {evalue}")

    def clear(self, wait: bool = False) -> None: ...


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def boot_once(snapshot: bool, cache: Path) -> tuple[float, str, float]:
    """(seconds to the first cell's end, boot mode, CPU seconds of the whole Deno process)."""
    engine = PyodideEngine(snapshot=snapshot, cache_dir=cache)
    cpu = children_cpu()
    started = time.perf_counter()
    try:
        await engine.start()
        await engine.execute(FIRST_CELL, Quiet())
        elapsed = time.perf_counter() - started
    finally:
        await engine.shutdown()
    return elapsed, str(engine.boot_info.get("boot")), children_cpu() - cpu


async def cold_imports(cache: Path) -> float:
    engine = PyodideEngine(cache_dir=cache)
    await engine.start()
    try:
        started = time.perf_counter()
        await engine.execute(COLD_IMPORTS, Quiet())
        return time.perf_counter() - started
    finally:
        await engine.shutdown()


async def round_trips(cache: Path, cells: int) -> list[float]:
    engine = PyodideEngine(cache_dir=cache)
    await engine.start()
    try:
        await engine.execute("x = 0", Quiet())
        times = []
        for _ in range(cells):
            started = time.perf_counter()
            await engine.execute("x += 1\nx", Quiet())
            times.append(time.perf_counter() - started)
        return times
    finally:
        await engine.shutdown()


def summary(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return (
        f"{label:<28} median {statistics.median(ms):8.1f} ms   "
        f"min {ms[0]:8.1f}   max {ms[-1]:8.1f}   (n={len(ms)})"
    )


async def main(n: int, cells: int) -> None:
    stdlib = paths.compiled_stdlib()
    print(f"stdlib: {stdlib.path.name if stdlib else 'python_stdlib.zip (sources only)'}")
    with tempfile.TemporaryDirectory(prefix="runt-pyodide-bench-") as tmp:
        cache = Path(tmp)
        made, mode, made_cpu = await boot_once(True, cache)  # makes the snapshot
        print(summary(f"first boot ({mode})", [made]), f"  cpu {made_cpu * 1000:.0f} ms")
        cold, cold_cpu = [], []
        for _ in range(n):
            elapsed, _, cpu = await boot_once(False, cache)
            cold.append(elapsed)
            cold_cpu.append(cpu)
        snap, snap_cpu = [], []
        for _ in range(n):
            elapsed, mode, cpu = await boot_once(True, cache)
            assert mode == "snapshot", mode
            snap.append(elapsed)
            snap_cpu.append(cpu)
        print(summary("cold boot -> first output", cold))
        print(summary("snapshot boot -> first output", snap))
        print(f"{'speed-up':<28} {statistics.median(cold) / statistics.median(snap):8.1f}x")
        print(summary("cpu, cold boot (process)", cold_cpu))
        print(summary("cpu, snapshot boot (process)", snap_cpu))
        print(summary("imports outside the snapshot", [await cold_imports(cache)]))
        print(summary("cell round trip", await round_trips(cache, cells)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="fresh processes per boot mode")
    parser.add_argument("--cells", type=int, default=50, help="cells for the round trip")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.cells))
