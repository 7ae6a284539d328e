"""``runt-automate test`` / ``combine`` as real processes, as GitHub Actions would run them."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.faultlib import parse_github_output

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    summary: str
    outputs: dict[str, str]


async def run_command(
    workdir: Path, *args: str, env: dict[str, str] | None = None, limit: float = 240
) -> SuiteRun:
    """``python -m runt_action ARGS`` in ``workdir`` (the workspace) under a fake runner."""
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_", "RUNT_"))
        and k not in ("AUTH_TOKEN", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI")
    }
    full.update(
        GITHUB_ACTIONS="true",
        CI="true",
        GITHUB_STEP_SUMMARY=str(workdir / "summary.md"),
        GITHUB_OUTPUT=str(workdir / "output.txt"),
        GITHUB_WORKSPACE=str(workdir),
        PYTHONUNBUFFERED="1",
    )
    full.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        *args,
        cwd=workdir,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    summary = workdir / "summary.md"
    output = workdir / "output.txt"
    return SuiteRun(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        workdir=workdir,
        summary=summary.read_text() if summary.exists() else "",
        outputs=parse_github_output(output.read_text()) if output.exists() else {},
    )


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    """The fixture suite copied into a fresh workspace, plus what discovery must skip."""
    work = tmp_path / "ws"
    shutil.copytree(FIXTURES / "suite", work / "nbs")
    never = 'cells: [{id: x, source: "raise SystemExit(9)"}]\n'
    for skipped in (".hidden/h.yml", "runt-output/old.yml", "sub/.ipynb_checkpoints/c.ipynb"):
        (work / "nbs" / skipped).parent.mkdir(parents=True, exist_ok=True)
        (work / "nbs" / skipped).write_text(never)
    return work


@pytest.fixture
def pool_dir(tmp_path: Path) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(FIXTURES / "pool", work / "pool")
    return work
