from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.faults.faultlib import parse_github_output

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(__file__).parent / "notebooks"


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    summary: str
    outputs: dict[str, str]
    ipynb: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(json.loads(self.outputs["results"]))

    def status_of(self, cell_id: str) -> str:
        for item in self.results:
            if item.get("id") == cell_id:
                return str(item["status"])
        raise KeyError(cell_id)

    def workflow_commands(self) -> list[str]:
        """Lines GitHub would treat as commands: outside any stop-commands fence."""
        active: list[str] = []
        fence: str | None = None
        for line in self.stdout.splitlines():
            stripped = line.lstrip()
            if fence is not None:
                if stripped == f"::{fence}::":
                    fence = None
                continue
            if stripped.startswith("::stop-commands::"):
                fence = stripped[len("::stop-commands::") :]
                continue
            if stripped.startswith("::"):
                active.append(stripped)
        return active


def _env(workdir: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_", "RUNT_"))
        and k not in ("AUTH_TOKEN", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI")
        and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")  # AI cells reach a test's stub only
    }
    env.update(
        GITHUB_ACTIONS="true",
        CI="true",
        GITHUB_STEP_SUMMARY=str(workdir / "summary.md"),
        GITHUB_OUTPUT=str(workdir / "output.txt"),
        GITHUB_WORKSPACE=str(workdir),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


async def run_cli(
    workdir: Path,
    notebook: Path,
    *args: str,
    env: dict[str, str] | None = None,
    on_line: Callable[[str, asyncio.subprocess.Process], None] | None = None,
    limit: float = 240,
) -> CliRun:
    """``python -m runt_action NOTEBOOK ARGS`` as GitHub Actions would run it."""
    ipynb = workdir / "executed.ipynb"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        str(notebook),
        "--output",
        str(ipynb),
        *args,
        cwd=workdir,
        env=_env(workdir, env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out_lines: list[str] = []

    async def pump_stdout() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            out_lines.append(line)
            if on_line is not None:
                on_line(line, proc)

    try:
        async with asyncio.timeout(limit):
            _, err = await asyncio.gather(pump_stdout(), proc.stderr.read())
            await proc.wait()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    summary_file = workdir / "summary.md"
    output_file = workdir / "output.txt"
    return CliRun(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout="".join(out_lines),
        stderr=err.decode(errors="replace"),
        workdir=workdir,
        summary=summary_file.read_text() if summary_file.exists() else "",
        outputs=parse_github_output(output_file.read_text()) if output_file.exists() else {},
        ipynb=json.loads(ipynb.read_text()) if ipynb.exists() else None,
    )


@pytest.fixture(params=["python", "pyodide"])
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cli() -> Callable[..., Any]:
    return run_cli


@pytest.fixture
def notebooks() -> Path:
    return NOTEBOOKS


@pytest.fixture
def repo() -> Path:
    return REPO
