"""What the numbers were measured on; benchmarks without this are anecdotes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from common import REPO


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _deno_version() -> str | None:
    try:
        from runt_action.agents.pyodide.paths import find_deno

        out = subprocess.run(
            [find_deno(), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.split("\n", 1)[0].strip() or None
    except Exception:
        return None


def _pyodide_version() -> str | None:
    try:
        from runt_action.agents.pyodide.paths import pyodide_version

        return pyodide_version()
    except Exception:
        return None


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def load_average() -> list[float] | None:
    """Other work on the box shows up here; a loaded machine makes every number slower."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict[str, Any]:
    return {
        "load_average_at_start": load_average(),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _mem_total_mb(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "deno": _deno_version(),
        "pyodide": _pyodide_version(),
        "ipykernel": _version("ipykernel"),
        "jupyter_client": _version("jupyter_client"),
        "papermill": _version("papermill"),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "git_head": _git_head(),
    }
