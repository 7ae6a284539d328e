"""Shared helpers: paths, statistics and one timed run of the CLI or of papermill.

Every run happens in its own temp directory with an explicit ``--output``, so the embedded
server's SQLite file and the executed notebook never land in the checkout.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PYTHON = sys.executable
STDLIB_EXAMPLE = REPO / "notebooks" / "example-stdlib.yml"
# runt-eval's README: "reactive, no artificial delays, 2.3-2.5 s for 7 cells".
RUNT_EVAL_PUBLISHED_S = (2.3, 2.5)

# Variables that would change what the CLI does (GitHub mode, inputs, a remote server).
_SCRUBBED_PREFIXES = ("INPUT_", "GITHUB_", "RUNNER_")
_SCRUBBED = {"CI", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "AUTH_TOKEN", "RUNT_API_KEY"}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment minus anything that would turn a local run into a CI or remote one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(slots=True)
class RunOutcome:
    """One timed process: wall seconds, exit code and the executed notebook if any."""

    wall_s: float
    returncode: int
    stderr_tail: str = ""
    ipynb: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def timed(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> RunOutcome:
    """Wall time of a whole process, interpreter start-up included, as a user would see it."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - t0
    tail = "\n".join(proc.stderr.decode(errors="replace").splitlines()[-8:])
    return RunOutcome(wall_s=wall, returncode=proc.returncode, stderr_tail=tail)


def _read_ipynb(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def run_cli(
    notebook: Path,
    runtime: str,
    *,
    env_extra: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    launcher: Sequence[str] | None = None,
) -> RunOutcome:
    """``python -m runt_action NOTEBOOK --runtime R`` on the embedded server, in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="runt-bench-") as tmp:
        work = Path(tmp)
        out = work / "out.ipynb"
        head = list(launcher) if launcher is not None else [PYTHON, "-m", "runt_action"]
        argv = [
            *head,
            str(notebook),
            "--runtime",
            runtime,
            "--output",
            str(out),
            "--summary",
            str(work / "summary.md"),
        ]
        env = clean_env(env_extra)
        env["RUNT_BENCH_WORKDIR"] = str(work)
        outcome = timed(argv, cwd=work, env=env, timeout=timeout)
        outcome.ipynb = _read_ipynb(out)
        probe = work / "rss.json"
        if probe.is_file():
            outcome.extra["rss"] = json.loads(probe.read_text(encoding="utf-8"))
        return outcome


def run_papermill(ipynb: Path, *, timeout: float = 300.0) -> RunOutcome:
    """papermill + ipykernel with its defaults (a save after every cell), in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="runt-bench-pm-") as tmp:
        work = Path(tmp)
        out = work / "out.ipynb"
        argv = [
            PYTHON,
            "-m",
            "papermill",
            str(ipynb),
            str(out),
            "-k",
            "python3",
            "--no-progress-bar",
            "--log-level",
            "WARNING",
        ]
        outcome = timed(argv, cwd=work, env=clean_env(), timeout=timeout)
        outcome.ipynb = _read_ipynb(out)
        return outcome


def cell_compute_ms(ipynb: Mapping[str, Any]) -> tuple[int, float]:
    """(executed code cells, sum of the agent's executionDurationMs) from metadata.runt."""
    count, total = 0, 0.0
    for cell in ipynb.get("cells", []):
        runt = cell.get("metadata", {}).get("runt", {})
        if cell.get("cell_type") == "code" and runt.get("status") == "success":
            count += 1
            total += float(runt.get("duration_ms", 0.0))
    return count, total


def timings_ms(ipynb: Mapping[str, Any]) -> dict[str, float]:
    raw = ipynb.get("metadata", {}).get("runt", {}).get("timings", {}) or {}
    return {str(k): float(v) for k, v in raw.items()}
