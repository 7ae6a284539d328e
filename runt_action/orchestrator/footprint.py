"""What a run may leave outside the workspace, and handing it all back to its owner.

A root container hands what a run leaves (user code's files, Pyodide's write-backs, the sync
log, caches in HOME) back to the owners of the workspace however the run ends; a single run
(:mod:`.main`) and a batch (:mod:`runt_action.batch`) both use these.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runt_action.console import PREFIX

if TYPE_CHECKING:
    from runt_action.orchestrator.plan import RunPlan
    from runt_action.report.ownership import Footprint

__all__ = ["settle", "written_paths"]


def written_paths(plan: RunPlan) -> list[Path | str | None]:
    """What the run may write outside the workspace and HOME (both are walked anyway)."""
    spec = plan.engine
    log = plan.sync_log
    return [
        plan.out_dir,
        plan.ipynb_path,
        plan.html_path,
        plan.summary_path,
        plan.summary_copy,
        *plan.extra_paths,
        *((log, f"{log}-wal", f"{log}-shm", f"{log}-journal") if log is not None else ()),
        *((spec.output_dir, spec.cwd) if spec is not None else ()),
        *(m.partition(":")[0] for m in (spec.mounts if spec is not None else ())),
    ]


def settle(footprint: Footprint) -> None:
    """Hand the run's files back (bounded; see report/ownership.py); say so when cut short."""
    settled = footprint.settle()
    if settled.truncated is not None:
        print(
            f"{PREFIX}warning: stopped handing files back to their owner after "
            f"{settled.directories} directories (under {settled.truncated}); "
            "files the run wrote further on may stay root's",
            file=sys.stderr,
            flush=True,
        )
