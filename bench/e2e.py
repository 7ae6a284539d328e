"""End-to-end wall time of the stdlib example: our runtimes against papermill, interleaved.

Interleaving (A B C D A B C D ...) spreads thermal, cache and noisy-neighbour drift over every
variant instead of charging it to whichever ran last. One warm-up round is discarded; it also
makes the Pyodide snapshot the "snapshot" variant boots from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    RUNT_EVAL_PUBLISHED_S,
    STDLIB_EXAMPLE,
    RunOutcome,
    median,
    run_cli,
    run_papermill,
    timings_ms,
)
from nbgen import yaml_to_ipynb

Variant = Callable[[], RunOutcome]


def _variants(work: Path, ipynb: Path, pyodide: bool) -> dict[str, Variant]:
    warm_cache = work / "pyodide-cache-warm"
    warm_cache.mkdir()
    cold_root = work / "pyodide-cache-cold"
    cold_root.mkdir()
    counter = iter(range(1_000_000))

    def cold() -> RunOutcome:
        # A fresh, empty cache every time: no snapshot to boot from (the run makes one).
        cache = cold_root / f"run{next(counter)}"
        cache.mkdir()
        return run_cli(STDLIB_EXAMPLE, "pyodide", env_extra={"RUNT_PYODIDE_CACHE": str(cache)})

    def snapshot() -> RunOutcome:
        # A snapshot made during the run means there was none to boot from: the bridge
        # changed (the cache key hashes it), so this run was a cold boot in disguise.
        before = set(warm_cache.glob("*.snapshot"))
        outcome = run_cli(
            STDLIB_EXAMPLE, "pyodide", env_extra={"RUNT_PYODIDE_CACHE": str(warm_cache)}
        )
        if set(warm_cache.glob("*.snapshot")) - before:
            outcome.extra["snapshot_rebuilt"] = True
        return outcome

    variants: dict[str, Variant] = {
        "runt_python": lambda: run_cli(STDLIB_EXAMPLE, "python"),
        "papermill": lambda: run_papermill(ipynb),
    }
    if pyodide:
        variants["runt_pyodide_cold"] = cold
        variants["runt_pyodide_snapshot"] = snapshot
    return variants


def _summary(samples: list[RunOutcome]) -> dict[str, Any]:
    rebuilt = [s for s in samples if s.ok and s.extra.get("snapshot_rebuilt")]
    good = [s for s in samples if s.ok and not s.extra.get("snapshot_rebuilt")]
    walls = [s.wall_s for s in good]
    out: dict[str, Any] = {
        "runs": len(samples),
        "failed": sum(1 for s in samples if not s.ok),
        "excluded_snapshot_rebuilt": len(rebuilt),
        "wall_s": [round(w, 4) for w in walls],
        "median_s": round(median(walls), 4) if walls else None,
        "min_s": round(min(walls), 4) if walls else None,
        "max_s": round(max(walls), 4) if walls else None,
    }
    phases: dict[str, list[float]] = {}
    for s in good:
        if s.ipynb is not None:
            t = timings_ms(s.ipynb)
            # Not covered by a named phase: loading the notebook and report modules before the
            # server starts, and cleanup (agent stop, engine shutdown).
            t["unaccounted"] = t.get("total", 0.0) - sum(v for k, v in t.items() if k != "total")
            for k, v in t.items():
                phases.setdefault(k, []).append(v)
    out["phases_ms"] = {k: [round(x, 1) for x in v] for k, v in phases.items()}
    if phases:
        out["phases_median_ms"] = {k: round(median(v), 1) for k, v in phases.items()}
        total = phases.get("total")
        if total and walls:
            # Process start (interpreter + imports) and exit (kernel/Deno shutdown, loop close).
            out["outside_run_median_ms"] = round(
                median([w * 1000 - t for w, t in zip(walls, total, strict=False)]), 1
            )
    errors = [s.stderr_tail for s in samples if not s.ok]
    if errors:
        out["errors"] = errors[:3]
    return out


def bench_e2e(rounds: int, *, pyodide: bool = True, log: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runt-bench-e2e-") as tmp:
        work = Path(tmp)
        ipynb = work / "example-stdlib.ipynb"
        code_cells = yaml_to_ipynb(STDLIB_EXAMPLE, ipynb)
        variants = _variants(work, ipynb, pyodide)
        log("e2e: warm-up round (discarded)")
        for name, fn in variants.items():
            if name != "runt_pyodide_cold":
                outcome = fn()
                log(f"  warm-up {name}: {outcome.wall_s:.2f} s rc={outcome.returncode}")
        samples: dict[str, list[RunOutcome]] = {name: [] for name in variants}
        for r in range(rounds):
            for name, fn in variants.items():
                outcome = fn()
                samples[name].append(outcome)
                note = (
                    " (snapshot rebuilt: excluded)" if outcome.extra.get("snapshot_rebuilt") else ""
                )
                log(f"  round {r + 1}/{rounds} {name}: {outcome.wall_s:.2f} s{note}")
                if not outcome.ok:
                    log(f"    failed (exit {outcome.returncode}): {outcome.stderr_tail}")
        snapshot_files = sorted(p.name for p in (work / "pyodide-cache-warm").glob("*.snapshot"))
    result: dict[str, Any] = {
        "notebook": STDLIB_EXAMPLE.name,
        "code_cells_including_parameters": code_cells,
        "rounds": rounds,
        "order": list(variants),
        "variants": {name: _summary(s) for name, s in samples.items()},
        "snapshot_made": snapshot_files,
        "runt_eval_published_s": list(RUNT_EVAL_PUBLISHED_S),
    }
    result["ratios"] = _ratios(result["variants"])
    return result


def _ratios(variants: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def med(name: str) -> float | None:
        v = variants.get(name, {}).get("median_s")
        return float(v) if v else None

    pm = med("papermill")
    mid = sum(RUNT_EVAL_PUBLISHED_S) / 2
    ratios: dict[str, float | None] = {}
    for name in variants:
        m = med(name)
        if name != "papermill":
            # > 1 means we are faster than papermill by that factor.
            ratios[f"papermill_over_{name}"] = round(pm / m, 3) if pm and m else None
        ratios[f"{name}_over_runt_eval_mid"] = round(m / mid, 3) if m else None
    return ratios
