"""End to end through the CLI on the embedded default, with both runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def test_stdlib_example_passes(cli: Any, repo: Path, tmp_path: Path, runtime: str) -> None:
    run = await cli(tmp_path, repo / "notebooks" / "example-stdlib.yml", "--runtime", runtime)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.outputs["status"] == "success"
    assert run.outputs["failed-cells"] == ""
    assert run.outputs["notebook-id"]
    assert int(float(run.outputs["duration-ms"])) > 0
    statuses = {item["id"]: item["status"] for item in run.results}
    assert statuses and all(s in ("success", "not-executed") for s in statuses.values())
    assert "success" in run.summary.lower()
    assert run.ipynb is not None and run.ipynb["nbformat"] == 4
    # The embedded server keeps its log in memory: outputs may hold secrets (opt in: sync-log).
    assert not [p for p in _files(tmp_path) if p.suffix in (".sqlite", ".sqlite-wal")]


async def test_failing_cell_stops_with_exit_1(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    nb = notebooks / "failing.yml"
    run = await cli(tmp_path, nb, "--runtime", runtime)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.outputs["status"] == "failed"
    assert run.outputs["failed-cells"] == "boom"
    assert run.status_of("first") == "success"
    assert run.status_of("boom") == "failed"
    assert run.status_of("never") == "skipped"
    assert run.status_of("notes") == "not-executed"
    assert "NEVER-RUNS" not in run.stdout
    # The annotation points at the YAML line that raised (issue 13), not at the cell's line.
    line = nb.read_text().splitlines().index('      raise ValueError("boom from cell")') + 1
    annotations = [c for c in run.workflow_commands() if c.startswith("::error ")]
    assert any(f"line={line}" in a and "Cell boom failed" in a for a in annotations), annotations
    assert any("ValueError" in a and "boom from cell" in a for a in annotations)
    assert "boom from cell" in run.summary
    assert "ValueError" in run.summary
    cells = {c["id"]: c for c in run.ipynb["cells"]} if run.ipynb else {}
    assert any(o.get("ename") == "ValueError" for o in cells["boom"]["outputs"])


async def test_timeout_interrupts_and_continues(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(tmp_path, notebooks / "timeout.yml", "--runtime", runtime)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.status_of("spin") == "timeout"
    assert run.status_of("after") == "success"
    assert "namespace alive: 2" in run.stdout
    assert run.outputs["failed-cells"] == "spin"
    # One vocabulary: the live log, the annotation, the summary and the outputs all say
    # "timeout" and why, never the KeyboardInterrupt the cancel caused.
    why = "exceeded the 2 s cell timeout"
    assert "Cell spin: timeout in" in run.stdout and f": {why}" in run.stdout
    annotation = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert "title=Cell spin timed out" in annotation and annotation.endswith(f"::{why}")
    assert why in run.summary
    spin = next(r for r in run.results if r["id"] == "spin")
    assert spin["status"] == "timeout" and spin["reason"] == why


async def test_retry(cli: Any, notebooks: Path, tmp_path: Path, runtime: str) -> None:
    run = await cli(tmp_path, notebooks / "retry.yml", "--runtime", runtime)
    assert run.returncode == 0, run.stderr[-3000:]
    flaky = next(r for r in run.results if r["id"] == "flaky")
    assert flaky["status"] == "success" and flaky["attempts"] == 2
    assert run.status_of("check") == "success"


async def test_allow_error(cli: Any, notebooks: Path, tmp_path: Path, runtime: str) -> None:
    run = await cli(tmp_path, notebooks / "allow_error.yml", "--runtime", runtime)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.status_of("tolerated") == "allowed-error"
    assert run.status_of("next") == "success"


async def test_if_conditions(cli: Any, notebooks: Path, tmp_path: Path, runtime: str) -> None:
    run = await cli(tmp_path, notebooks / "conditions.yml", "--runtime", runtime)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.status_of("setup") == "success"
    assert run.status_of("only-if-setup-failed") == "skipped"
    assert run.status_of("breaks") == "failed"
    assert run.status_of("skipped-after-failure") == "skipped"
    assert run.status_of("cleanup") == "success"
    assert "SHOULD-NOT-RUN" not in run.stdout
    assert "cleanup ran" in run.stdout


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]
