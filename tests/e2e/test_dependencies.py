"""--on-error skip-dependents and --only, end to end on both runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def test_skip_dependents_runs_what_does_not_depend_on_the_failure(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(
        tmp_path,
        notebooks / "dependents.yml",
        "--runtime",
        runtime,
        "--on-error",
        "skip-dependents",
    )
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.status_of("broken") == "failed"
    assert run.status_of("report") == "success"  # reads only `data`: still runs
    assert "rows 3" in run.stdout
    reasons = {item["id"]: item.get("reason") for item in run.results}
    assert run.status_of("uses_model") == "skipped"
    assert reasons["uses_model"] == "depends on broken"
    assert run.status_of("after_chain") == "skipped"  # transitively, through `chained`
    assert reasons["after_chain"] == "depends on broken"


async def test_only_runs_the_cell_and_what_it_needs(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(
        tmp_path, notebooks / "dependents.yml", "--runtime", runtime, "--only", "report"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ran = {item["id"] for item in run.results if item["status"] == "success"}
    assert ran == {"parameters", "load", "report"}
    assert run.status_of("broken") == "skipped"


async def test_unknown_only_cell_is_bad_input(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    run = await cli(tmp_path, notebooks / "dependents.yml", "--only", "nope", limit=30)
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert "--only 'nope': no such cell" in line
