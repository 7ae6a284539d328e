"""Infrastructure failures end with exit 3 and still leave a summary (native runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def test_notebook_timeout_exit_3(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    run = await cli(
        tmp_path, notebooks / "sigterm.yml", "--runtime", "python", "--timeout", "3", limit=60
    )
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "error"
    assert run.status_of("spin") == "timeout"
    assert run.status_of("later") == "skipped"
    assert "timeout" in run.summary.lower()


async def test_runtime_none_without_a_sync_url_is_bad_input(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    run = await cli(tmp_path, notebooks / "retry.yml", "--runtime", "none", limit=30)
    assert run.returncode == 2, run.stderr[-3000:]
    [line] = run.stderr.strip().splitlines()
    assert "runtime 'none' needs a sync URL" in line


async def test_no_runtime_startup_timeout_exit_3(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    from runt_action.livestore.server import SyncServer

    server = SyncServer(None)  # an external server that no runtime ever joins
    await server.start()
    try:
        run = await cli(
            tmp_path,
            notebooks / "retry.yml",
            "--runtime",
            "none",
            "--sync-url",
            server.url,
            "--startup-timeout",
            "1",
            limit=60,
        )
    finally:
        await server.stop()
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "error"
    assert "no runtime session became ready" in run.summary


async def test_kernel_death_exit_3(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    run = await cli(tmp_path, notebooks / "dies.yml", "--runtime", "python", limit=60)
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "error"
    assert run.status_of("ok") == "success"
    assert run.status_of("die") == "failed"
    assert run.status_of("later") == "skipped"
    assert "LATER" not in run.stdout


async def test_unsafe_if_is_rejected_before_running(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    run = await cli(tmp_path, notebooks / "bad_if.yml", "--runtime", "python", limit=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"{notebooks / 'bad_if.yml'}:7:9:"), lines[0]  # the if: value
    assert "PWNED" not in run.stdout.splitlines()  # never executed
    assert run.outputs == {"status": "invalid"} and run.ipynb is None  # nothing started


async def test_bad_input_under_actions_still_reports(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("cells:\n  - id: a\n    sourc: print(1)\n")
    run = await cli(tmp_path, bad, limit=30)
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"{bad}:3:5: unknown key 'sourc'")
    assert run.outputs["status"] == "invalid"
    assert "Invalid input" in run.summary
    # Annotations name the file as GitHub attaches them: relative to the workspace.
    assert "::error file=bad.yml,line=3,col=5" in run.stdout
