"""Parameter sweeps end to end: one notebook per set, one summary, the worst exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from runt_action.report.escape import escape_md


async def test_matrix_sweep_runs_each_set(
    cli: Any, notebooks: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(tmp_path, notebooks / "sweep.yml", "--runtime", runtime, limit=240)
    # n=0 divides by zero: the worst run is a failed cell, so the sweep exits 1.
    assert run.returncode == 1, run.stderr[-3000:]
    results = json.loads(run.outputs["results"])
    assert [r["parameters"] for r in results] == [
        {"n": 2, "label": "a"},
        {"n": 3, "label": "a"},
        {"n": 0, "label": "zero"},
    ]
    assert [r["status"] for r in results] == ["success", "success", "failed"]
    assert [r["results"]["answer"] for r in results] == ["10", "6", ""]
    assert run.outputs["status"] == "failed"
    assert len(set(run.outputs["notebook-id"].split(","))) == 3  # one notebook per set
    # Each set has its own executed notebook (--output executed.ipynb), with its parameters.
    files = _names(tmp_path, "executed-*.ipynb")
    assert files == [
        "executed-1-n-2-label-a.ipynb",
        "executed-2-n-3-label-a.ipynb",
        "executed-3-n-0-label-zero.ipynb",
    ]
    nb = nbformat.read(tmp_path / files[1], as_version=4)
    assert "n = 3" in nb.cells[0].source
    # One summary with the comparison table.
    assert "sweep of 3" in run.summary
    row = next(line for line in run.summary.splitlines() if escape_md("2-n-3-label-a") in line)
    assert row.endswith("| 6 |")


async def test_sweep_file_and_jobs(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sets.yml"
    sweep.write_text("- {n: 1}\n- {n: 2}\n- {n: 5}\n- {n: 10}\n")
    run = await cli(
        tmp_path,
        notebooks / "sweep.yml",
        "--runtime",
        "python",
        "--sweep",
        str(sweep),
        "--jobs",
        "2",
        limit=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.outputs["results"])
    assert [r["results"]["answer"] for r in results] == ["20", "10", "4", "2"]
    # --log-output (the default) with --jobs 2: every output line whole, prefixed with its
    # set (it printed nothing before, issue #26).
    lines = [line for line in run.stdout.splitlines() if "n = " in line]
    assert sorted(lines) == [
        "[1-n-1] n = 1 base",
        "[2-n-2] n = 2 base",
        "[3-n-5] n = 5 base",
        "[4-n-10] n = 10 base",
    ]
    assert "[4-n-10] 2" in run.stdout.splitlines()


async def test_sweep_jobs_no_log_output(cli: Any, notebooks: Path, tmp_path: Path) -> None:
    """--no-log-output keeps the sets' outputs out of the log, with several jobs too."""
    sweep = tmp_path / "sets.yml"
    sweep.write_text("- {n: 1}\n- {n: 0}\n")
    run = await cli(
        tmp_path,
        notebooks / "sweep.yml",
        *("--runtime", "python", "--sweep", str(sweep), "--jobs", "2", "--no-log-output"),
        limit=240,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    assert "n = " not in run.stdout
    # The failed cell's verdict is still a line of the log, prefixed with its set.
    assert any(
        line.startswith("[2-n-0] cell compute: failed") for line in run.stdout.splitlines()
    ), run.stdout


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


async def test_sweep_summary_never_replaces_a_device(
    cli: Any, notebooks: Path, tmp_path: Path
) -> None:
    """The sweep's summary goes through the same writer as a run's: a device stays one."""
    import os
    import stat

    import pytest

    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    sets = tmp_path / "sets.yml"
    sets.write_text("- {n: 1}\n- {n: 2}\n")
    run = await cli(
        tmp_path,
        notebooks / "sweep.yml",
        "--runtime",
        "python",
        "--sweep",
        str(sets),
        "--summary",
        str(device),
        env={"GITHUB_ACTIONS": ""},
        limit=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert stat.S_ISCHR(device.stat().st_mode)
