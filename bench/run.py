"""One command for every benchmark: ``python bench/run.py [--quick] [--json out.json]``.

Prints the measurements against the targets of issue #7 and writes everything (samples,
phases, machine) as JSON. Benchmarks, not tests: a missed target is reported, never fatal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from common import BENCH, PYTHON, REPO, RUNT_EVAL_PUBLISHED_S, STDLIB_EXAMPLE, clean_env, run_cli
from e2e import bench_e2e
from events import bench_events
from machine import describe, load_average
from memory import bench_memory
from output import bench_output, report_lines
from overhead import bench_overhead
from sweep import bench_sweep

SECTIONS = ("overhead", "e2e", "events", "memory", "sweep", "output", "pyodide_boot")


def _log(quiet: bool) -> Callable[[str], None]:
    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    return log


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="fewer repeats (about 2 minutes)")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the JSON (default bench/results.json, --quick: results-quick.json)",
    )
    p.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    p.add_argument("--no-pyodide", action="store_true", help="skip the Pyodide variants")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _plan(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "cells": 200,
            "ovh_repeats": 2,
            "ovh_pyodide_repeats": 0,
            "e2e_rounds": 2,
            "events": 5000,
            "latency": 200,
            "event_repeats": 1,
            "rss_repeats": 1,
        }
    return {
        "cells": 200,
        "ovh_repeats": 5,
        "ovh_pyodide_repeats": 3,
        "e2e_rounds": 9,
        "events": 20000,
        "latency": 1000,
        "event_repeats": 3,
        "rss_repeats": 3,
    }


def _warm_pyodide_cache(cache: Path, log: Callable[[str], None]) -> bool:
    """One run that leaves a snapshot in ``cache`` (the snapshot-boot case of a CI cache)."""
    outcome = run_cli(STDLIB_EXAMPLE, "pyodide", env_extra={"RUNT_PYODIDE_CACHE": str(cache)})
    made = any(cache.glob("*.snapshot"))
    log(f"pyodide cache warm-up: rc={outcome.returncode} snapshot={made}")
    return outcome.ok


def _pyodide_boot(log: Callable[[str], None]) -> dict[str, Any]:
    """The Pyodide engineer's engine-level boot benchmark, kept as its own script."""
    proc = subprocess.run(
        [PYTHON, str(BENCH / "pyodide_boot.py"), "-n", "3", "--cells", "20"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )
    lines = proc.stdout.splitlines()
    for line in lines:
        log("  " + line)
    if proc.returncode:
        log("  pyodide_boot failed: " + proc.stderr.strip()[-300:])
    return {"returncode": proc.returncode, "report": lines}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.json is None:
        args.json = REPO / "bench" / ("results-quick.json" if args.quick else "results.json")
    log = _log(args.quiet)
    plan = _plan(args.quick)
    sections = args.only or list(SECTIONS)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "plan": plan,
        "machine": describe(),
    }
    with tempfile.TemporaryDirectory(prefix="runt-bench-cache-") as tmp:
        cache: Path | None = None
        pyodide = not args.no_pyodide
        if pyodide and ({"overhead", "memory"} & set(sections)):
            cache = Path(tmp)
            pyodide = _warm_pyodide_cache(cache, log)
        runtimes: tuple[str, ...] = ("python",)
        if pyodide and plan["ovh_pyodide_repeats"]:
            runtimes = ("python", "pyodide")
        jobs: dict[str, Callable[[], Any]] = {
            "overhead": lambda: bench_overhead(
                plan["cells"],
                plan["ovh_repeats"],
                runtimes,
                pyodide_cache=cache,
                pyodide_repeats=plan["ovh_pyodide_repeats"],
                log=log,
            ),
            "e2e": lambda: bench_e2e(plan["e2e_rounds"], pyodide=pyodide, log=log),
            "events": lambda: bench_events(
                plan["events"], plan["latency"], repeats=plan["event_repeats"], log=log
            ),
            "memory": lambda: bench_memory(
                plan["rss_repeats"],
                plan["cells"],
                pyodide_cache=cache if pyodide else None,
                log=log,
            ),
            "sweep": lambda: bench_sweep(2 if args.quick else 3, log=log),
            "output": lambda: bench_output(1 if args.quick else 3, pyodide=pyodide, log=log),
            "pyodide_boot": lambda: _pyodide_boot(log),
        }
        for name in SECTIONS:
            if name not in sections or (name == "pyodide_boot" and (args.quick or not pyodide)):
                continue
            log(f"{name}:")
            try:
                results[name] = jobs[name]()
            except Exception as exc:  # one broken section must not cost the others
                log(f"  {name} failed: {exc!r}")
                results[name] = {"error": repr(exc)}
    results["machine"]["load_average_at_end"] = load_average()
    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render(results))
    print(f"\nJSON: {args.json}  ({results['elapsed_s']} s)")
    return 0


def _get(d: dict[str, Any], *path: str) -> Any:
    cur: Any = d
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was measured, the bound, and whether it was met (None: not run)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, bound: float, better: str, unit: str) -> None:
        met = None
        if isinstance(value, int | float):
            met = value <= bound if better == "lower" else value >= bound
        op = "<=" if better == "lower" else ">="
        rows.append({"target": name, "value": value, "bound": f"{op} {bound:g} {unit}", "met": met})

    add(
        "orchestration overhead per cell (native)",
        _get(r, "overhead", "python", "median_overhead_per_cell_ms"),
        1.0,
        "lower",
        "ms",
    )
    if _get(r, "overhead", "pyodide") is not None:
        add(
            "orchestration overhead per cell (pyodide)",
            _get(r, "overhead", "pyodide", "median_overhead_per_cell_ms"),
            1.0,
            "lower",
            "ms",
        )
    wall = _get(r, "overhead", "python", "median_wall_per_cell_ms")
    raw = _get(r, "overhead", "raw_kernel_roundtrip_uvloop", "median_ms")
    add(
        "native wall per cell / raw round trip (uvloop)",
        round(wall / raw, 3) if isinstance(wall, float) and isinstance(raw, float) else None,
        1.2,
        "lower",
        "x",
    )
    for variant in ("runt_pyodide_snapshot", "runt_pyodide_cold"):
        add(
            f"pyodide e2e wall, {variant.rsplit('_', 1)[1]} boot",
            _get(r, "e2e", "variants", variant, "median_s"),
            1.0,
            "lower",
            "s",
        )
    add(
        "papermill / native e2e (speed-up)",
        _get(r, "e2e", "ratios", "papermill_over_runt_python"),
        1.5,
        "higher",
        "x",
    )
    add(
        "events/s pusher -> server -> subscriber",
        _get(r, "events", "sqlite_file", "events_per_s"),
        20000,
        "higher",
        "ev/s",
    )
    mem = r.get("memory") or {}
    peaks = [
        v["orchestrator_peak_mb"]
        for v in mem.values()
        if isinstance(v, dict) and v.get("orchestrator_peak_mb") is not None
    ]
    add("orchestrator peak RSS (worst case)", max(peaks) if peaks else None, 80, "lower", "MB")
    add(
        "sweep of 8 (native): --jobs 2 speed-up over --jobs 1",
        _get(r, "sweep", "speedup"),
        1.3,
        "higher",
        "x",
    )
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)


def render(results: dict[str, Any]) -> str:
    # A section that failed carries only {"error": ...}: list it, render the rest.
    r = {k: v for k, v in results.items() if not (isinstance(v, dict) and "error" in v)}
    lines: list[str] = []
    m = r["machine"]
    lines.append(
        f"machine: {m['nproc']} x {m['cpu_model']}, {m['memory_mb']} MB, Python {m['python']}, "
        f"{m['deno']}, Pyodide {m['pyodide']}, ipykernel {m['ipykernel']}, "
        f"uvloop {m.get('uvloop')}; "
        f"load average {m['load_average_at_start']} -> {m.get('load_average_at_end')}"
    )
    lines.append("")
    lines.append(f"{'target':<44} {'measured':>12}  {'bound':<16} met")
    lines.append("-" * 80)
    for row in r["targets"]:
        met = {True: "yes", False: "NO", None: "n/a"}[row["met"]]
        lines.append(f"{row['target']:<44} {_fmt(row['value']):>12}  {row['bound']:<16} {met}")
    for name, v in results.items():
        if isinstance(v, dict) and "error" in v:
            lines.append(f"section {name} FAILED: {v['error']}")
    e2e = r.get("e2e")
    if e2e:
        lo, hi = RUNT_EVAL_PUBLISHED_S
        lines.append("")
        lines.append(
            f"end to end, {e2e['notebook']}, {e2e['rounds']} interleaved rounds "
            f"(runt-eval published {lo}-{hi} s):"
        )
        lines.append(
            f"  {'variant':<24} {'median s':>9} {'min s':>7} {'max s':>7} "
            f"{'x runt-eval':>11} {'in-run ms':>10} {'outside ms':>10}"
        )
        for name, v in e2e["variants"].items():
            ratio = e2e["ratios"].get(f"{name}_over_runt_eval_mid")
            total = (v.get("phases_median_ms") or {}).get("total")
            lines.append(
                f"  {name:<24} {_fmt(v['median_s']):>9} {_fmt(v['min_s']):>7} "
                f"{_fmt(v['max_s']):>7} {_fmt(ratio):>11} {_fmt(total):>10} "
                f"{_fmt(v.get('outside_run_median_ms')):>10}"
                + (f"  ({v['failed']} failed)" if v["failed"] else "")
                + (
                    f"  ({v['excluded_snapshot_rebuilt']} excluded: snapshot rebuilt)"
                    if v.get("excluded_snapshot_rebuilt")
                    else ""
                )
            )
        for name, v in e2e["variants"].items():
            if v.get("phases_median_ms"):
                phases = ", ".join(f"{k} {_fmt(x)}" for k, x in v["phases_median_ms"].items())
                lines.append(f"  phases {name}: {phases}")
    ovh = r.get("overhead")
    if ovh:
        lines.append("")
        lines.append(f"overhead, {ovh['cells']} x `{ovh['source']}` (medians, ms per cell):")
        for rt in ("python", "python_asyncio_loop", "pyodide"):
            if rt in ovh:
                o = ovh[rt]
                lines.append(
                    f"  {rt:<8} wall {_fmt(o['median_wall_per_cell_ms'])}  "
                    f"runtime {_fmt(o['median_compute_per_cell_ms'])}  "
                    f"overhead {_fmt(o['median_overhead_per_cell_ms'])}"
                )
        for key, loop in (
            ("raw_kernel_roundtrip", "asyncio"),
            ("raw_kernel_roundtrip_uvloop", "uvloop"),
        ):
            raw = ovh.get(key)
            if raw:
                lines.append(
                    f"  raw jupyter_client round trip of the same cell on {loop}: "
                    f"median {raw['median_ms']} ms"
                )
    out = r.get("output")
    if out and "lines" in out:
        lines.append("")
        lines.extend(report_lines(out))
    boot = r.get("pyodide_boot")
    if boot and boot.get("report"):
        lines.append("")
        lines.append("pyodide engine boot (bench/pyodide_boot.py):")
        lines.extend("  " + line for line in boot["report"])
    ev = r.get("events")
    if ev:
        lines.append("")
        lines.append("events through the embedded SyncServer:")
        for label, v in ev.items():
            lines.append(
                f"  {label:<12} {_fmt(v['events_per_s'])} ev/s "
                f"(best {_fmt(v['best_events_per_s'])}, "
                f"CPU-bound {_fmt(v['cpu_bound_events_per_s'])}; {v['events']:g} events); "
                f"latency p50 {_fmt(v['latency_p50_ms'])} ms, p99 {_fmt(v['latency_p99_ms'])} ms"
                f" (one in flight); under flood p50 {_fmt(v['flood_latency_p50_ms'])} ms"
            )
    mem = r.get("memory")
    if mem:
        lines.append("")
        lines.append(
            f"peak RSS (MB): bare python {_fmt(mem['python_bare_peak_mb'])}, "
            f"imports only {_fmt(mem['imports_only_peak_mb'])}"
        )
        for label, v in mem.items():
            if isinstance(v, dict):
                lines.append(
                    f"  {label:<20} orchestrator {_fmt(v['orchestrator_peak_mb'])}  "
                    f"kernel/deno {_fmt(v['largest_child_peak_mb'])}"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
