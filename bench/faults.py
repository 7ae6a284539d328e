"""The closing-note figures of issue 10, measured with the fault suite's own scenarios.

``python bench/faults.py [--runtime python|pyodide|both] [--repeats 3] [--json out.json]``

- connection cuts survived through the cutting, delaying proxy (tests/faults/proxy.py), with
  the outputs lost and duplicated (must be 0 and 0), and the same across a SIGKILL and
  restart of the sync server;
- detection time of a runtime SIGKILLed mid-cell (kill to the CLI's exit);
- the largest single output line that survives intact (1, 3, 10, 30 MB).

A benchmark, not a test: every figure is printed, a bad one is never fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "faults"))

from scenarios import (  # noqa: E402  (the fault suite's helpers, not a package)
    across_server_restart,
    one_big_line,
    runtime_killed_mid_cell,
    through_cutting_proxy,
)

LINE_SIZES_MB = (1, 3, 10, 30)


def _tmp() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="runt-faults-")


async def cuts(runtime: str, lines: int) -> dict[str, Any]:
    with _tmp() as tmp:
        got = await through_cutting_proxy(
            Path(tmp), runtime, lines=lines, max_cuts=200, cut_for=600, limit=600
        )
    stats = got.cuts
    return {
        "rc": got.run.returncode,
        "lines": lines,
        "cuts": stats.cuts if stats else 0,
        "connections": stats.connections if stats else 0,
        "delayed_chunks": stats.delayed_chunks if stats else 0,
        "lost": len(got.lost),
        "duplicated": len(got.duplicated),
        "wall_s": round(got.run.elapsed, 2),
    }


async def restart(runtime: str) -> dict[str, Any]:
    with _tmp() as tmp:
        got = await across_server_restart(Path(tmp), runtime, lines=400, kill_at=100, limit=300)
    return {
        "rc": got.run.returncode,
        "restarted": got.restarted,
        "lost": len(got.lost),
        "duplicated": len(got.duplicated),
    }


async def detection(runtime: str, repeats: int) -> dict[str, Any]:
    times: list[float] = []
    codes: list[int] = []
    for _ in range(repeats):
        with _tmp() as tmp:
            got = await runtime_killed_mid_cell(Path(tmp), runtime)
            summary = (Path(tmp) / "summary.md").is_file()
        codes.append(got.run.returncode)
        if got.detection_s is not None and summary:
            times.append(got.detection_s)
    return {
        "exit_codes": codes,
        "detection_s": [round(t, 3) for t in times],
        "max_s": round(max(times), 3) if times else None,
    }


async def largest_line(runtime: str) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    largest = 0
    for mb in LINE_SIZES_MB:
        size = mb * 1_000_000
        with _tmp() as tmp:
            got = await one_big_line(Path(tmp), runtime, size, limit=600)
        sizes[f"{mb}MB"] = {
            "rc": got.run.returncode,
            "intact": got.intact,
            "received_bytes": got.received,
        }
        if got.intact:
            largest = max(largest, size)
    return {"sizes": sizes, "largest_intact_mb": largest / 1_000_000}


async def measure(runtime: str, repeats: int, lines: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    jobs: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "cuts": lambda: cuts(runtime, lines),
        "server_restart": lambda: restart(runtime),
        "runtime_kill": lambda: detection(runtime, repeats),
        "largest_line": lambda: largest_line(runtime),
    }
    for name, job in jobs.items():
        print(f"[{runtime}] {name}...", file=sys.stderr, flush=True)
        out[name] = await job()
    return out


def _line_verdict(size: str, v: dict[str, Any]) -> str:
    if v["intact"]:
        return f"{size} intact"
    return f"{size} LOST ({v['received_bytes']} bytes arrived)"


def render(results: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for runtime, r in results.items():
        c, s, k, big = r["cuts"], r["server_restart"], r["runtime_kill"], r["largest_line"]
        lines += [
            f"== {runtime}",
            f"connection cuts survived: {c['cuts']} over {c['connections']} connections, "
            f"{c['lines']} lines: lost {c['lost']}, duplicated {c['duplicated']} "
            f"(exit {c['rc']}, {c['wall_s']} s)",
            f"sync server SIGKILL + restart: lost {s['lost']}, duplicated {s['duplicated']} "
            f"(exit {s['rc']}, restarted: {s['restarted']})",
            f"runtime SIGKILL detection: {k['detection_s']} s, max {k['max_s']} s "
            f"(exit codes {k['exit_codes']})",
            "single line: "
            + ", ".join(_line_verdict(size, v) for size, v in big["sizes"].items())
            + f"; largest intact: {big['largest_intact_mb']:g} MB",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="python", choices=("python", "pyodide", "both"))
    parser.add_argument("--repeats", type=int, default=3, help="runtime kills to time")
    parser.add_argument("--lines", type=int, default=1000, help="lines printed under the cuts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    runtimes = ("python", "pyodide") if args.runtime == "both" else (args.runtime,)
    results = {rt: asyncio.run(measure(rt, args.repeats, args.lines)) for rt in runtimes}
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
