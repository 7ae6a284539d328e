"""Peak RSS of the orchestrator process, kept apart from the kernel / Deno child.

The CLI runs inside bench/rss_probe.py, which reads its own ``ru_maxrss`` when the run is
over (VmHWM): that is the orchestrator alone. A bare import of the same modules gives the floor that
no amount of runtime tuning removes.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH, PYTHON, STDLIB_EXAMPLE, clean_env, median, run_cli
from nbgen import trivial_yaml

HUGE_ANIMATION = BENCH.parent / "tests" / "e2e" / "notebooks" / "huge_animation.yml"

_IMPORTS = (
    "import runt_action.cli, runt_action.orchestrator.main, "
    "runt_action.orchestrator.agent_host, runt_action.agents.core, runt_action.agents.native, "
    "runt_action.livestore, runt_action.schema.state, runt_action.report, "
    "runt_action.report.ipynb, runt_action.report.summary; "
    "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
)
# Not ru_maxrss: Linux keeps it across fork + exec, so it reports our own (larger) peak.
_BARE = "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"


def _floor(code: str) -> int | None:
    proc = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, env=clean_env(), check=False
    )
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def bench_memory(
    repeats: int, cells: int, *, pyodide_cache: Path | None, log: Callable[[str], None]
) -> dict[str, Any]:
    launcher = [PYTHON, str(BENCH / "rss_probe.py")]
    result: dict[str, Any] = {
        "python_bare_peak_mb": _mb(_floor(_BARE)),
        "imports_only_peak_mb": _mb(_floor(_IMPORTS)),
    }
    with tempfile.TemporaryDirectory(prefix="runt-bench-rss-") as tmp:
        big = Path(tmp) / f"trivial-{cells}.yml"
        trivial_yaml(big, cells)
        cases = [
            ("stdlib_python", STDLIB_EXAMPLE, "python"),
            (f"trivial{cells}_python", big, "python"),
            ("stdlib_pyodide", STDLIB_EXAMPLE, "pyodide"),
            # issue #23: one 100 MB text/html display, held once (compare stdlib_python)
            ("anim100mb_python", HUGE_ANIMATION, "python"),
        ]
        for label, nb, runtime in cases:
            env = {"RUNT_PYODIDE_CACHE": str(pyodide_cache)} if pyodide_cache else {}
            selfs: list[float] = []
            kids: list[float] = []
            for _ in range(repeats):
                outcome = run_cli(nb, runtime, env_extra=env, launcher=launcher)
                rss = outcome.extra.get("rss")
                if outcome.ok and rss:
                    selfs.append(rss["self_vmhwm_kb"] / 1024)
                    kids.append(rss["children_vmhwm_kb"] / 1024)
                else:
                    log(f"  rss {label}: rc={outcome.returncode} {outcome.stderr_tail}")
            result[label] = {
                "orchestrator_peak_mb": round(median(selfs), 1) if selfs else None,
                "largest_child_peak_mb": round(median(kids), 1) if kids else None,
                "runs": len(selfs),
            }
            log(f"  rss {label}: {result[label]}")
    return result


def _mb(kb: int | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None
