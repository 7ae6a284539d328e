"""Scale: peak orchestrator RSS and time per cell, 250 to 2000 cells each printing 1 KB.

``python bench/scale.py [--cells 250,500,1000,2000] [--runtime python] [--json out.json]``

Issue 10's target: at most 110 MB of orchestrator RSS for 2000 cells, and a time per cell
that stays flat as the notebook grows (no per-event cost growing with the log). The
orchestrator's peak is its own VmHWM, read by bench/rss_probe.py at the end of the run, so
the kernel or Deno child is not counted. A benchmark: a missed target is printed, not fatal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, PYTHON, run_cli, timings_ms

RSS_TARGET_MB = 110.0
FLAT_RATIO = 1.5  # time per cell at the largest size vs the smallest, at most
KB_LINE = 'print("x" * 1023)'  # 1 KB with the newline


def kb_notebook(target: Path, cells: int) -> None:
    """``cells`` code cells, each printing one 1 KB line."""
    import yaml

    doc = {
        "metadata": {"title": f"{cells} cells x 1 KB"},
        "cells": [{"id": f"c{i:05d}", "source": KB_LINE} for i in range(cells)],
    }
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def measure(cells: int, runtime: str, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runt-scale-") as tmp:
        nb = Path(tmp) / f"kb-{cells}.yml"
        kb_notebook(nb, cells)
        outcome = run_cli(
            nb, runtime, launcher=[PYTHON, str(BENCH / "rss_probe.py")], timeout=timeout
        )
    row: dict[str, Any] = {"cells": cells, "rc": outcome.returncode, "wall_s": outcome.wall_s}
    rss = outcome.extra.get("rss") or {}
    row["orchestrator_peak_mb"] = (
        round(rss["self_vmhwm_kb"] / 1024, 1) if rss.get("self_vmhwm_kb") else None
    )
    phase = timings_ms(outcome.ipynb or {}).get("cells")
    # The cells phase alone (no start-up) when the notebook reports it; else the wall time.
    row["cells_s"] = phase / 1000 if phase else outcome.wall_s
    row["ms_per_cell"] = row["cells_s"] * 1000 / cells
    executed = sum(
        1
        for c in (outcome.ipynb or {}).get("cells", [])
        if c.get("metadata", {}).get("runt", {}).get("status") == "success"
    )
    row["cells_ok"] = executed
    if not outcome.ok:
        row["error"] = outcome.stderr_tail
    return row


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'cells':>6} {'rc':>3} {'ok':>6} {'wall s':>8} {'cells s':>8} {'ms/cell':>8} "
        f"{'orch. peak MB':>14}",
    ]
    for r in rows:
        peak = r["orchestrator_peak_mb"]
        lines.append(
            f"{r['cells']:>6} {r['rc']:>3} {r['cells_ok']:>6} {r['wall_s']:>8.2f} "
            f"{r['cells_s']:>8.2f} {r['ms_per_cell']:>8.2f} "
            f"{(f'{peak:.1f}' if peak is not None else '-'):>14}"
        )
    ok_rows = [r for r in rows if r["rc"] == 0]
    if ok_rows:
        big = max(ok_rows, key=lambda r: r["cells"])
        small = min(ok_rows, key=lambda r: r["cells"])
        ratio = big["ms_per_cell"] / small["ms_per_cell"] if small["ms_per_cell"] else 0.0
        peak = big["orchestrator_peak_mb"]
        verdict = "met" if peak is not None and peak <= RSS_TARGET_MB else "MISSED"
        lines.append(
            f"peak orchestrator RSS at {big['cells']} cells: {peak} MB "
            f"(target <= {RSS_TARGET_MB:.0f} MB: {verdict})"
        )
        flat = "flat" if ratio <= FLAT_RATIO else "NOT flat"
        lines.append(
            f"time per cell {small['cells']} -> {big['cells']} cells: "
            f"{small['ms_per_cell']:.2f} -> {big['ms_per_cell']:.2f} ms "
            f"(x{ratio:.2f}, {flat}; at most x{FLAT_RATIO})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="250,500,1000,2000", help="comma-separated sizes")
    parser.add_argument("--runtime", default="python", choices=("python", "pyodide"))
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for n in (int(x) for x in args.cells.split(",")):
        print(f"running {n} cells ({args.runtime})...", file=sys.stderr, flush=True)
        rows.append(measure(n, args.runtime, args.timeout))
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
