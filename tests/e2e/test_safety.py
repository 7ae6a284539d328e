"""Workflow-command injection, secrets and signals, through the CLI (native runtime)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

TOKEN = "tok-e2e-5f3a9c1d7b2e"


async def test_notebook_cannot_issue_workflow_commands(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    run = await cli(tmp_path, notebooks / "commands.yml", "--runtime", "python")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "::add-mask::x" in run.stdout  # echoed, but only inside the fence
    active = run.workflow_commands()
    assert not any(c.startswith(("::add-mask::x", "::error::boom", "::warning")) for c in active)
    # Every fence token is masked before the fence opens.
    lines = run.stdout.splitlines()
    fence: str | None = None
    opened = 0
    for i, line in enumerate(lines):
        if fence is None and line.startswith("::stop-commands::"):
            fence = line.removeprefix("::stop-commands::")
            assert f"::add-mask::{fence}" in lines[:i]
            opened += 1
        elif fence is not None and line == f"::{fence}::":
            fence = None
    assert opened and fence is None


async def test_token_appears_nowhere(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    from runt_action.livestore.server import SyncServer, token_validator

    server = SyncServer(None, validate_payload=token_validator(TOKEN))
    await server.start()
    try:
        run = await cli(
            tmp_path,
            notebooks / "secret.yml",
            "--runtime",
            "python",
            env={"AUTH_TOKEN": TOKEN, "LIVESTORE_SYNC_URL": server.url},
        )
    finally:
        await server.stop()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "token visible: False" in run.stdout  # not even the runtime's environment has it
    # GitHub consumes `::add-mask::` lines and never shows them; nothing else may hold it.
    shown = [line for line in run.stdout.splitlines() if line != f"::add-mask::{TOKEN}"]
    assert TOKEN not in "\n".join(shown)
    assert TOKEN not in run.stderr
    _assert_not_in_files(tmp_path, TOKEN)


async def test_wrong_sync_url_is_a_usage_error(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    run = await cli(
        tmp_path,
        notebooks / "secret.yml",
        env={"AUTH_TOKEN": TOKEN, "LIVESTORE_SYNC_URL": "wss://example.invalid/sync"},
    )
    assert run.returncode == 2
    assert "/livestore" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert TOKEN not in run.stderr + run.stdout


async def test_sigterm_cancels_and_still_writes_the_summary(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    sent: list[float] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if "spinning" in line and not sent:
            sent.append(1)
            os.kill(proc.pid, signal.SIGTERM)

    run = await cli(
        tmp_path,
        notebooks / "sigterm.yml",
        "--runtime",
        "python",
        on_line=on_line,
        limit=60,
    )
    assert sent, run.stdout
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "cancelled"
    assert run.status_of("spin") == "cancelled"
    assert run.status_of("later") == "skipped"
    assert "cancel" in run.summary.lower()
    assert "LATER" not in run.stdout


def _assert_not_in_files(root: Path, secret: str) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


async def test_second_signal_forces_exit_and_still_summarises(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    sent: list[int] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if "spinning" in line and not sent:
            sent.append(1)
            os.kill(proc.pid, signal.SIGINT)
            os.kill(proc.pid, signal.SIGINT)

    run = await cli(
        tmp_path, notebooks / "sigterm.yml", "--runtime", "python", on_line=on_line, limit=60
    )
    assert sent
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "cancelled"
    assert run.summary
